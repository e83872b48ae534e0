"""Fixtures every test area shares: a real nats-server, and where ../shared is."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fakes.llm import FakeLlm
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.fakes.webhook import FakeWebhook
from tests.support.nats_server import NatsServer, docker_available

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# `aiops` commands read .env from their working directory, the repository in tests: a developer's own
# (real LLM key, real Slack webhook) must not reach them. Tests of .env name their file explicitly.
os.environ["AIOPS_ENV_FILE"] = os.devnull

# No time limit per example: on a shared machine one example of a property that starts bash took 259 ms
# against hypothesis's 200 ms default, and failed the suite. Speed is measured by `just bench`, not here.
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")


class _ContainerNats:
    """testcontainers' NATS where a Docker engine answers (not on the project's CI machine)."""

    def __init__(self) -> None:
        from testcontainers.nats import NatsContainer

        self._container = NatsContainer().with_command("-js")
        self._container.start()
        self.url = self._container.nats_uri()

    def close(self) -> None:
        self._container.stop()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh JetStream server per test: no state leaks between tests (start-up is ~50 ms)."""
    server = NatsServer().start()
    try:
        yield server
    finally:
        server.close()


# A max_payload some servers are configured with, far below nats-server's default of 1 MiB.
SMALL_MAX_PAYLOAD = 64 * 1024


@pytest.fixture
def small_payload_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh JetStream server that takes at most SMALL_MAX_PAYLOAD bytes per message."""
    config = tmp_path / "small-payload.conf"
    config.write_text(f"max_payload: {SMALL_MAX_PAYLOAD}\n")
    server = NatsServer(extra_args=["-c", str(config)]).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def nats_container_or_binary() -> Iterator[object]:
    """For tests that only need *a* server and may run against a container."""
    server: _ContainerNats | NatsServer
    server = _ContainerNats() if docker_available() else NatsServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: this test reads the shared data folder beside the checkout")
    return SHARED


# The services we cannot run here, faked by small servers that speak their real APIs over a socket.
@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.close()


@pytest.fixture
async def webhook() -> AsyncIterator[FakeWebhook]:
    fake = await FakeWebhook().start()
    yield fake
    await fake.close()


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = await FakePagerDuty().start()
    yield fake
    await fake.close()


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    fake = await FakeTeams().start()
    yield fake
    await fake.close()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlm]:
    fake = await FakeLlm().start()
    yield fake
    await fake.close()
