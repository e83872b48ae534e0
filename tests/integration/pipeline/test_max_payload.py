"""A NATS server configured with a small max_payload: what does not fit is refused or dead-lettered,
clearly and at once, and everything else flows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats
import orjson
import pytest

import schemas
from services.runtime import NatsSettings, ensure_stream
from tests.conftest import SMALL_MAX_PAYLOAD
from tests.integration.cli.conftest import aiops
from tests.support.nats_server import NatsServer
from tests.support.services import running_pipeline
from tests.support.stream import read_subject, wait_for_count

STARTS = "2026-12-04T15:00:00Z"


def alert(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": "warning", "instance": "db-1:9100"},
        "annotations": annotations,
        "startsAt": STARTS,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": name.lower(),
    }


def webhook(*alerts: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "aiops",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "groupKey": "{}:{}",
            "alerts": list(alerts),
        }
    )


def long_notes(total: int) -> dict[str, str]:
    """Annotations of ``total`` characters, each within ingest's per-value limit (8 KiB)."""
    notes, left, n = {}, total, 0
    while left > 0:
        notes[f"note{n}"] = "x" * min(8000, left)
        left -= 8000
        n += 1
    return notes


async def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/webhook/alertmanager", data=body, headers={"Content-Type": "application/json"}
        ) as response,
    ):
        return response.status, orjson.loads(await response.read())


@pytest.mark.timeout(60)
async def test_an_alert_too_large_for_the_server_is_refused_with_413_before_any_is_stored(
    small_payload_server: NatsServer,
) -> None:
    async with running_pipeline(small_payload_server.url) as pipeline:
        nc = await nats.connect(small_payload_server.url)
        js = nc.jetstream()
        try:
            small, large = alert("DiskFilling"), alert("HugeAnnotations", **long_notes(40_000))
            status, answer = await post(pipeline.url, webhook(small, large))
            raw_after_refusal = (await js.stream_info(schemas.STREAM)).state.messages
            # Alertmanager sends a 503 again and again, and the rest of the group with it: a 413 it does not.
            status_without, _ = await post(pipeline.url, webhook(small))
            (analyzed,) = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=1, timeout=20)
        finally:
            await nc.close()

    assert status == 413
    assert "alerts[1]" in answer["error"]
    assert "max_payload" in answer["error"]
    assert f"{SMALL_MAX_PAYLOAD // 2:,}" in answer["error"]
    assert raw_after_refusal == 0  # all or nothing: not even the small alert went on
    assert status_without == 200
    assert analyzed.alert.labels["alertname"] == "DiskFilling"


def raw_alert_of(size: int, name: str = "PublishedDirectly") -> schemas.RawAlert:
    """A raw alert whose message is ``size`` bytes, as a tool publishing to alerts.raw (not through
    ingest) could send: it fits the server, and what the enricher adds to it does not."""
    notes = long_notes(size)
    while True:
        fields = schemas.Alert(
            status="firing",
            labels={"alertname": name},
            annotations=notes,
            starts_at=datetime(2026, 12, 4, 15, 0, tzinfo=UTC),
        )
        message = schemas.RawAlert(id=schemas.alert_id(fields), alert=fields, received_at=datetime.now(UTC))
        over = len(schemas.encode(message)) - size
        if over == 0:
            return message
        last = sorted(notes)[-1]
        notes[last] = notes[last][: len(notes[last]) - over]


@pytest.mark.timeout(90)
async def test_a_result_over_the_servers_max_payload_is_dead_lettered_at_once_and_redriven_from_the_stream(
    small_payload_server: NatsServer,
) -> None:
    url = small_payload_server.url
    async with running_pipeline(url, stages={"retry_backoff_seconds": "0.1"}) as pipeline:
        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            # 200 bytes under the limit with its headers; the enricher's evidence notes add more than that.
            original = raw_alert_of(SMALL_MAX_PAYLOAD - 200)
            payload = schemas.encode(original)
            stored = await js.publish(schemas.RAW, payload, headers={schemas.MSG_ID_HEADER: original.id})
            (letter,) = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1, timeout=20)
            # The enricher's connection was not cut by the server: the next alert goes all the way.
            status, _ = await post(pipeline.url, webhook(alert("DiskFilling")))
            await wait_for_count(js, schemas.ANALYZED, 1, timeout=20)

            listed = await aiops(url, "dlq", "list")
            redrive = await aiops(url, "dlq", "redrive", "--stage", "enricher")
            resent = await js.get_last_msg(schemas.STREAM, schemas.RAW)
        finally:
            await nc.close()

    assert letter.stage == "enricher"
    assert letter.error_type == "too_large"
    assert letter.attempts == 1  # no retries: a message that does not fit never will
    assert "max_payload" in letter.error
    assert f"{SMALL_MAX_PAYLOAD:,}" in letter.error
    # The letter with the payload escaped in it would not fit either: it says where the original is.
    assert letter.payload_omitted
    assert letter.payload == ""
    assert letter.stream_seq == stored.seq
    assert status == 200
    assert "payload not kept (too large)" in listed.stdout
    assert "1 dead letter(s) redriven" in redrive.stdout, redrive
    assert (resent.seq or 0) > stored.seq
    assert resent.data == payload


@pytest.mark.timeout(60)
async def test_a_replay_skips_a_message_its_marker_would_take_over_the_limit_and_goes_on(
    small_payload_server: NatsServer,
) -> None:
    url = small_payload_server.url
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await ensure_stream(js, NatsSettings(nats_url=url))
        # Stored 100 bytes under the limit with its headers: the replay's marker takes it over.
        near = raw_alert_of(SMALL_MAX_PAYLOAD - 100)
        small = raw_alert_of(2_000, name="Small")
        for message in (near, small):
            await js.publish(
                schemas.RAW, schemas.encode(message), headers={schemas.MSG_ID_HEADER: message.id}
            )
        run = await aiops(url, "replay", "--since", "1h")
        replayed = await read_subject(js, schemas.RAW, schemas.RawAlert, count=3)
    finally:
        await nc.close()

    assert run.code == 0, run.stderr
    assert "skipped seq=1: marked, the message is" in run.stdout
    assert "max_payload" in run.stdout
    assert "1 alert(s) replayed" in run.stdout
    assert "1 skipped" in run.stdout
    assert [m.replay is not None for m in replayed] == [False, False, True]
    assert replayed[2].id == small.id
