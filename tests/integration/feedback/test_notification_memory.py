"""A Slack notification remembers: how often the alert fired this week, the cause people confirmed,
and carries the buttons to judge this analysis (fake Slack over a socket, real NATS, SQLite history)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgspec
import nats
import pytest
from prometheus_client import CollectorRegistry

import schemas
from services.history import History
from services.notifier import Destination, Notifier, NotifierMetrics, open_ledger, single_route
from services.notifier._memory import MemoryLines
from services.notifier._slack_bot import SlackSpec
from tests.fakes.slack import FakeSlack, block_kit_violations
from tests.support.nats_server import NatsServer

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "notifier" / "analyzed_firing.json"
CAUSE = "the payments database ran out of connections"


def firing(days_ago: float, pod: str = "payments-api-7d9f8b6c4-x2kqp") -> schemas.AnalyzedAlert:
    message = schemas.decode(FIXTURE.read_bytes(), schemas.AnalyzedAlert)
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    alert = msgspec.structs.replace(
        message.alert, starts_at=starts, labels={**message.alert.labels, "pod": pod}
    )
    return msgspec.structs.replace(message, alert=alert, id=schemas.alert_id(alert), received_at=starts)


@pytest.fixture
async def notifier(nats_server: NatsServer, slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Notifier]:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    history = await History.open(url)
    earlier = [firing(1, "payments-api-7d9f8b6c4-bcdfg"), firing(3, "payments-api-7d9f8b6c4-hjklm")]
    await history.write(alerts=earlier)
    confirmed = schemas.Feedback(
        id="f1",
        target="alert",
        target_id=earlier[1].id,
        verdict="corrected",
        corrected_category="dependency_failure",
        actual_cause=CAUSE,
        actual_fix="raised the pool to 50",
        given_at=datetime.now(UTC),
    )
    await history.write(feedback=[confirmed])
    await history.close()
    nc = await nats.connect(nats_server.url)
    session = aiohttp.ClientSession()
    destination = Destination(
        name="slack", type="slack", url=slack.url, rate_per_second=0.0, options=SlackSpec(buttons=True)
    )
    made = Notifier(
        single_route([destination], 0),
        await open_ledger(nc.jetstream(), "aiops-deliveries", 3600),
        session,
        NotifierMetrics(CollectorRegistry()),
    )
    made.memory = await MemoryLines.open(url)
    yield made
    await made.memory.close()
    await session.close()
    await nc.close()


async def test_the_message_says_how_often_it_fired_and_what_people_found(
    notifier: Notifier, slack: FakeSlack
) -> None:
    now = firing(0)
    await notifier.handle(now)
    [received] = slack.received
    payload = received.json()
    assert block_kit_violations(payload) == []
    blocks = payload["attachments"][0]["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    line = f"_fired 3 times this week; last confirmed cause: {CAUSE}, fixed by raised the pool to 50_"
    assert line in texts
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e.get("action_id") for e in actions["elements"]] == [
        "aiops_confirm",
        "aiops_wrong_cause",
        "aiops_category",
    ]
    assert actions["block_id"] == f"aiops_feedback|alert:{now.id}"
