"""One processing path: a handler run inline over a batch or awaited in a task of its own is
measured, acked, retried and dead-lettered alike (they once disagreed on the latency metric)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import aiohttp
import nats
import orjson
import pytest
from loguru import logger

import schemas
from services.runtime import Handler, Reject, Runtime, StageSettings, StageSpec, configure_logging, provision
from tests.integration.runtime.test_stage import enriched, fast_settings, publish_raw, raw_alert
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage
from tests.support.stream import caught_up, read_subject, subject_count

# Whole words: a health port such as :35035 holds 503 too.
_ABOUT_THE_FAILURE = re.compile(r"\b(?:503|retrying|dead)")

HANDLER_KINDS = ["task", "inline"]


def spec(kind: str, handle: Any, output_subject: str = schemas.ENRICHED) -> StageSpec[Any, Any]:
    async def build(_: StageSettings, __: Runtime) -> Handler:
        return Handler(handle, inline=kind == "inline")

    return StageSpec("enricher", schemas.RAW, schemas.RawAlert, output_subject, build)


async def scrape(port: int) -> dict[str, float]:
    """The enricher's runtime figures, by series name and outcome."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    figures: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("aiops_handler_seconds_count", "aiops_messages_total"):
            if line.startswith(name + "{") and 'stage="enricher"' in line:
                outcome = line.split('outcome="')[1].split('"')[0] if "outcome=" in line else ""
                figures[f"{name}:{outcome}".rstrip(":")] = float(line.rsplit(" ", 1)[1])
    return figures


@pytest.fixture
async def js(nats_server: NatsServer) -> Any:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_every_message_is_measured_once_whether_acked_retried_or_dead_lettered(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    calls: Counter[str] = Counter()

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        calls[message.id] += 1
        name = message.alert.labels["alertname"]
        if name == "Flaky" and calls[message.id] == 1:
            raise ConnectionError("backend reset the connection")
        if name == "Nonsense":
            raise Reject("label set makes no sense")
        return enriched(message)

    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    good = [raw_alert(fingerprint=f"g{i}") for i in range(3)]
    flaky, nonsense = raw_alert("Flaky", "fl"), raw_alert("Nonsense", "no")
    for message in [*good, flaky, nonsense]:
        await publish_raw(js, schemas.encode(message), message.id)
    await publish_raw(js, b'{"id": 42}', "poison")
    async with running_stage(spec(kind, handle), settings) as port:
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=4)
        dead = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=2)
        await caught_up(js, "enricher")
        figures = await scrape(port)
    assert sorted(m.id for m in out) == sorted(m.id for m in [*good, flaky])
    assert sorted(d.error_type for d in dead) == ["decode", "rejected"]
    # 4 acked, 1 retried (then acked), 2 dead letters: 7 settlements, each timed once.
    assert figures["aiops_messages_total:ok"] == 4
    assert figures["aiops_messages_total:retry"] == 1
    assert figures["aiops_messages_total:dead"] == 2
    assert figures["aiops_handler_seconds_count"] == 7


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_a_result_jetstream_does_not_store_is_not_acked_but_retried_then_dead_lettered(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        return enriched(message)

    settings = fast_settings(nats_server.url, max_deliver=3)
    await provision(js, settings)
    message = raw_alert()
    async with running_stage(spec(kind, handle, output_subject="nowhere.enriched"), settings) as port:
        await publish_raw(js, schemas.encode(message), message.id)
        [letter] = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1)
        await caught_up(js, "enricher")
        figures = await scrape(port)
    assert letter.attempts == 3
    assert letter.error.startswith("gave up after 3 attempts: PublishFailed")
    assert schemas.decode(letter.payload, schemas.RawAlert).id == message.id
    assert await subject_count(js, schemas.ENRICHED) == 0
    assert figures["aiops_messages_total:ok"] == 0
    assert figures["aiops_messages_total:retry"] == 2
    assert figures["aiops_messages_total:dead"] == 1
    assert figures["aiops_handler_seconds_count"] == 3


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_lines_logged_while_handling_or_failing_a_message_name_its_alert(
    nats_server: NatsServer, js: Any, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("enricher", "INFO", "json")

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        logger.info("prometheus answered 503, evidence without metrics")
        return enriched(message)

    settings = fast_settings(nats_server.url, max_deliver=2)
    await provision(js, settings)
    message = raw_alert()
    # Published nowhere: its failure is logged after the handling, when the publish goes unanswered.
    async with running_stage(spec(kind, handle, output_subject="nowhere.enriched"), settings):
        await publish_raw(js, schemas.encode(message), message.id)
        await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1)
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    # The connection's own lines ("nats: cannot connect ...; retrying") are about no message: a stage
    # of an earlier test still reconnecting to its stopped server may log one here.
    handling = [line for line in lines if not line["msg"].startswith("nats: ")]
    about = [line for line in handling if _ABOUT_THE_FAILURE.search(line["msg"])]
    assert {line["msg"][:20] for line in about} >= {"prometheus answered ", "dead-lettered after "}
    assert [line for line in about if line.get("alert_id") != message.id] == []


async def test_a_sequenced_stage_is_given_where_the_stream_keeps_each_message_it_prepares(
    nats_server: NatsServer, js: Any
) -> None:
    given: list[tuple[schemas.RawAlert, int]] = []

    async def prepare(delivered: list[tuple[schemas.RawAlert, int]]) -> None:
        given.extend(delivered)

    async def build(_: StageSettings, __: Runtime) -> Handler:
        return Handler(enriched_of, inline=True, prepare=prepare, sequenced=True)

    async def enriched_of(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        return enriched(message)

    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    alerts = [raw_alert(fingerprint=f"s{i}") for i in range(3)]
    await publish_raw(js, b"not an alert", "poison")
    for message in alerts:
        await publish_raw(js, schemas.encode(message), message.id)
    stage: StageSpec[schemas.RawAlert, StageSettings] = StageSpec(
        "enricher", schemas.RAW, schemas.RawAlert, schemas.ENRICHED, build
    )
    async with running_stage(stage, settings):
        await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=3)
        await caught_up(js, "enricher")
    # The poison message is dead-lettered, never prepared; each alert is where it was said to be.
    assert sorted(message.id for message, _ in given) == sorted(message.id for message in alerts)
    for message, sequence in given:
        stored = await js.get_msg(schemas.STREAM, sequence)
        assert schemas.decode(stored.data, schemas.RawAlert).id == message.id
