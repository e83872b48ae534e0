"""``python -m services.history`` against a real nats-server: what reaches the stream reaches the database,
once, and a database outage loses nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import nats
import pytest

import schemas
from services.history import AlertQuery, History, IncidentQuery
from services.history._build import SPEC
from services.history._settings import HistorySettings
from tests.support.history import analyzed, incident_event, verdict
from tests.support.nats_server import NatsServer
from tests.support.postgres import Postgres
from tests.support.services import running_stage, settings_for
from tests.support.stream import caught_up, read_subject


def history_settings(nats_url: str, database_url: str) -> Any:
    return settings_for(
        HistorySettings, nats_url, database_url=database_url, retry_backoff_seconds="0.2,0.5",
        history_retention_days=0,
    )  # fmt: skip


async def publish(js: Any, subject: str, message: Any, msg_id: str) -> None:
    await js.publish(subject, schemas.encode(message), headers={schemas.MSG_ID_HEADER: msg_id})


async def test_analyses_incidents_and_verdicts_are_stored_once_despite_redelivery(
    nats_server: NatsServer, database_url: str
) -> None:
    async with running_stage(SPEC, history_settings(nats_server.url, database_url)):
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            alerts = [analyzed(n) for n in range(30)]
            for message in alerts:
                await publish(js, schemas.ANALYZED, message, f"analyst:{message.id}")
            for message in alerts[:10]:  # a replay: the same analyses again, past de-duplication
                await publish(js, schemas.ANALYZED, message, f"analyst:{message.id}:replay:r1")
            for sequence in (1, 2):
                event = incident_event(sequence=sequence)
                await publish(js, schemas.incident_subject(event.event), event, event.id)
            await publish(js, schemas.FEEDBACK, verdict("a0000003"), "fb-1")
            for consumer in ("history", "history-incidents", "history-feedback"):
                await caught_up(js, consumer)
        finally:
            await nc.close()
    history = await History.open(database_url)
    try:
        page = await history.alerts(AlertQuery(limit=500))
        assert sorted(row.id for row in page.items) == sorted(message.id for message in alerts)
        assert [row.feedback for row in page.items if row.id == "a0000003"] == ["confirmed"]
        incidents = await history.incidents(IncidentQuery())
        assert [(row.id, row.sequence) for row in incidents.items] == [("inc-1", 2)]
    finally:
        await history.close()


async def test_postgresql_down_fails_the_batch_and_every_alert_is_stored_once_it_is_back(
    nats_server: NatsServer, postgres: Postgres
) -> None:
    postgres.reset()
    async with running_stage(SPEC, history_settings(nats_server.url, postgres.url)):
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            await publish(js, schemas.ANALYZED, analyzed(0), "analyst:before")
            await caught_up(js, "history")
            postgres.stop()
            alerts = [analyzed(n) for n in range(1, 41)]
            for message in alerts:
                await publish(js, schemas.ANALYZED, message, f"analyst:{message.id}")
            # The stage took them, failed to write, and is retrying.
            async with asyncio.timeout(20):
                while (await js.consumer_info(schemas.STREAM, "history")).num_redelivered == 0:
                    await asyncio.sleep(0.05)
            postgres.start()
            await caught_up(js, "history", timeout=30)
        finally:
            await nc.close()
    history = await History.open(postgres.url)
    try:
        page = await history.alerts(AlertQuery(limit=500))
        assert sorted(row.id for row in page.items) == sorted(m.id for m in [analyzed(0), *alerts])
        assert await history.db.fetch("SELECT COUNT(*) FROM alerts") == [(41,)]
    finally:
        await history.close()


def _not_an_analysis() -> dict[str, bytes]:
    """By message id: payloads that are not a valid AnalyzedAlert, one of them wrong only in a part the
    history's row never reads (the whole message is validated, as by any stage)."""
    wrong_deep = msgspec.json.decode(schemas.encode(analyzed(7)))
    wrong_deep["group"] = {"group_labels": ["not", "a", "map"]}
    wrong_category = msgspec.json.decode(schemas.encode(analyzed(8)))
    wrong_category["analysis"]["category"] = "weather"
    return {
        "bad-shape": b'{"not": "an analysis"}',
        "bad-group": msgspec.json.encode(wrong_deep),
        "bad-category": msgspec.json.encode(wrong_category),
        "bad-bytes": b"\xff\xfe not even utf-8",
    }


def _refusal(data: bytes) -> str:
    try:
        schemas.decode(data, schemas.AnalyzedAlert)
    except msgspec.DecodeError as exc:  # ValidationError is one
        return f"cannot decode AnalyzedAlert: {exc}"
    raise AssertionError("a valid analysis")


async def test_a_message_that_is_not_an_analysis_is_dead_lettered_and_the_batch_still_written(
    nats_server: NatsServer, tmp_path: pytest.TempPathFactory
) -> None:
    url = f"sqlite:///{tmp_path}/history.db"
    bad = _not_an_analysis()
    async with running_stage(SPEC, history_settings(nats_server.url, url)):
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            for msg_id, data in bad.items():
                await js.publish(schemas.ANALYZED, data, headers={schemas.MSG_ID_HEADER: msg_id})
            for message in (analyzed(1), analyzed(2)):
                await publish(js, schemas.ANALYZED, message, message.id)
            await caught_up(js, "history")
            dead = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=len(bad))
        finally:
            await nc.close()
    assert {d.msg_id: (d.stage, d.error_type, d.error) for d in dead} == {
        msg_id: ("history", "decode", _refusal(data)) for msg_id, data in bad.items()
    }
    history = await History.open(url)
    try:
        assert [row.id for row in (await history.alerts(AlertQuery())).items] == ["a0000002", "a0000001"]
        assert await history.alert("a0000001") == analyzed(1)
    finally:
        await history.close()


async def test_the_stage_deletes_what_is_older_than_the_retention(
    nats_server: NatsServer, tmp_path: pytest.TempPathFactory
) -> None:
    url = f"sqlite:///{tmp_path}/history.db"
    now = datetime.now(UTC)
    old = msgspec.structs.replace(analyzed(1), received_at=now - timedelta(days=31))
    recent = msgspec.structs.replace(analyzed(2), received_at=now - timedelta(days=29))
    settings = msgspec.structs.replace(
        history_settings(nats_server.url, url), history_retention_days=30, history_purge_interval_seconds=0.1
    )
    history = await History.open(url)
    try:
        async with running_stage(SPEC, settings):
            nc = await nats.connect(nats_server.url)
            try:
                js = nc.jetstream()
                for message in (old, recent):
                    await publish(js, schemas.ANALYZED, message, message.id)
                await caught_up(js, "history")
            finally:
                await nc.close()
            async with asyncio.timeout(10):
                while await history.alert(old.id) is not None:
                    await asyncio.sleep(0.05)
        assert [row.id for row in (await history.alerts(AlertQuery())).items] == [recent.id]
    finally:
        await history.close()
