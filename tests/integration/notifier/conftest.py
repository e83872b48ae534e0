"""Real nats-server (the delivery ledger) and local fakes of every destination kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgspec
import nats
import pytest
from prometheus_client import CollectorRegistry

import schemas
from services.notifier import Ledger, Notifier, NotifierMetrics, Router, open_ledger
from tests.fakes.jira import FakeJira
from tests.fakes.opsgenie import FakeOpsgenie
from tests.support.nats_server import NatsServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notifier"


def load_firing() -> schemas.AnalyzedAlert:
    message = schemas.decode((FIXTURES / "analyzed_firing.json").read_bytes(), schemas.AnalyzedAlert)
    return msgspec.structs.replace(message, id=schemas.alert_id(message.alert))


def resolved(message: schemas.AnalyzedAlert, seconds: float) -> schemas.AnalyzedAlert:
    """The resolution of the same episode, ``seconds`` after it started."""
    alert = msgspec.structs.replace(
        message.alert, status="resolved", ends_at=message.alert.starts_at + timedelta(seconds=seconds)
    )
    return msgspec.structs.replace(message, alert=alert, id=schemas.alert_id(alert))


@pytest.fixture
def firing() -> schemas.AnalyzedAlert:
    return load_firing()


@dataclass
class Clock:
    """The notifier's idea of now, set by a test relative to the alert's start."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def at(self, message: schemas.AnalyzedAlert, seconds: float) -> None:
        self.now = message.alert.starts_at + timedelta(seconds=seconds)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def ledger(nats_server: NatsServer) -> AsyncIterator[Ledger]:
    nc = await nats.connect(nats_server.url)
    yield await open_ledger(nc.jetstream(), "aiops-deliveries", 3600)
    await nc.close()


@dataclass
class Made:
    notifier: Notifier
    registry: CollectorRegistry
    clock: Clock

    def count(self, destination: str, outcome: str) -> float:
        labels = {"destination": destination, "outcome": outcome}
        return self.registry.get_sample_value("aiops_notifications_total", labels) or 0.0


@pytest.fixture
async def make(ledger: Ledger) -> AsyncIterator[Callable[..., Made]]:
    session = aiohttp.ClientSession()

    def build(router: Router, timeout: float = 5.0) -> Made:
        registry, clock = CollectorRegistry(), Clock()
        notifier = Notifier(router, ledger, session, NotifierMetrics(registry), timeout=timeout, clock=clock)
        return Made(notifier, registry, clock)

    yield build
    await session.close()


@pytest.fixture
async def opsgenie() -> AsyncIterator[FakeOpsgenie]:
    fake = await FakeOpsgenie().start()
    yield fake
    await fake.close()


@pytest.fixture
async def jira() -> AsyncIterator[FakeJira]:
    fake = await FakeJira().start()
    yield fake
    await fake.close()
