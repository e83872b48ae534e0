"""``aiops history rebuild``: history refilled from the stream, as an operator runs it, twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import nats

import schemas
from services.history import AlertQuery, History, IncidentQuery
from services.runtime import NatsSettings, ensure_stream
from tests.integration.cli.conftest import aiops
from tests.support.history import analyzed, incident_event, verdict
from tests.support.nats_server import NatsServer


async def test_rebuild_refills_history_from_the_stream_and_a_second_run_duplicates_nothing(
    nats_server: NatsServer, database_url: str
) -> None:
    now = datetime.now(UTC)
    alerts = [msgspec.structs.replace(analyzed(n), received_at=now - timedelta(minutes=n)) for n in range(12)]
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, NatsSettings(nats_url=nats_server.url))
        for message in alerts:
            await js.publish(schemas.ANALYZED, schemas.encode(message))
        await js.publish(schemas.ANALYZED, b"not json")
        for sequence in (1, 2):
            event = incident_event(sequence=sequence)
            await js.publish(schemas.incident_subject(event.event), schemas.encode(event))
        await js.publish(schemas.FEEDBACK, schemas.encode(verdict("a0000004")))
    finally:
        await nc.close()

    env = {"DATABASE_URL": database_url, "AIOPS_PROGRESS_SECONDS": "0"}
    first = await aiops(nats_server.url, "history", "rebuild", "--since", "7d", env=env)
    second = await aiops(nats_server.url, "history", "rebuild", env=env)
    assert first.code == 0, first.stderr
    assert second.code == 0, second.stderr
    assert "alerts.analyzed: 12 written, 1 undecodable skipped" in first.stdout
    assert "alerts.incidents.>: 2 written" in first.stdout

    history = await History.open(database_url)
    try:
        page = await history.alerts(AlertQuery(limit=100))
        assert [row.id for row in page.items] == [message.id for message in alerts]
        assert [row.feedback for row in page.items if row.feedback] == ["confirmed"]
        incidents = await history.incidents(IncidentQuery())
        assert [(row.id, row.sequence) for row in incidents.items] == [("inc-1", 2)]
    finally:
        await history.close()


async def test_rebuild_says_why_when_the_database_cannot_be_opened(nats_server: NatsServer) -> None:
    run = await aiops(nats_server.url, "history", "rebuild", env={"DATABASE_URL": "mysql://nowhere/history"})
    assert run.code != 0
    assert "DATABASE_URL must start with sqlite:// or postgresql://" in run.stderr
