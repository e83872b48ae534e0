"""The shared consumer loop against a real nats-server: retries, dead letters, slow work, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import nats
import pytest
from loguru import logger

import schemas
from services.runtime import (
    Backlog,
    Handler,
    Reject,
    RetryLater,
    Runtime,
    StageSettings,
    StageSpec,
    current_delivery,
    provision,
)
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage, settings_for
from tests.support.stream import caught_up, read_subject, subject_count

RawHandler = Callable[[schemas.RawAlert], Awaitable[schemas.EnrichedAlert | None]]
SyncRawHandler = Callable[[schemas.RawAlert], schemas.EnrichedAlert | None]

# The runtime runs a handler in a task per message, or inline over a batch when the stage declares
# it waits on nothing (Handler(inline=True)); retries, dead letters and publishing must not differ.
HANDLER_KINDS = ["task", "inline"]


def raw_alert(name: str = "HighCPUUsage", fingerprint: str = "f1") -> schemas.RawAlert:
    alert = schemas.Alert(
        status="firing",
        labels={"alertname": name},
        starts_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        fingerprint=fingerprint,
    )
    return schemas.RawAlert(id=schemas.alert_id(alert), alert=alert, received_at=datetime.now(UTC))


def enriched(message: schemas.RawAlert) -> schemas.EnrichedAlert:
    return schemas.enriched(message, schemas.Evidence(), datetime.now(UTC))


def spec_for(handle: RawHandler, *, inline: bool = False) -> StageSpec[Any, Any]:
    async def build(_: StageSettings, __: Runtime) -> Handler:
        return Handler(handle, inline=inline)

    return StageSpec(
        name="enricher",
        input_subject=schemas.RAW,
        input_type=schemas.RawAlert,
        output_subject=schemas.ENRICHED,
        build=build,
    )


def spec_of_kind(kind: str, handle: SyncRawHandler) -> StageSpec[Any, Any]:
    async def waiting_on_nothing(message: schemas.RawAlert) -> schemas.EnrichedAlert | None:
        return handle(message)

    return spec_for(waiting_on_nothing, inline=kind == "inline")


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


def fast_settings(url: str, **overrides: Any) -> StageSettings:
    values = {"retry_backoff_seconds": "0.05", "max_deliver": 4, **overrides}
    settings: StageSettings = settings_for(StageSettings, url, **values)
    return settings


async def publish_raw(js: nats.js.JetStreamContext, payload: bytes, msg_id: str) -> None:
    await js.publish(schemas.RAW, payload, headers={schemas.MSG_ID_HEADER: msg_id})


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_results_flow_downstream_once_per_alert(nats_server: NatsServer, js: Any, kind: str) -> None:
    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    # More than one batch of either kind, published while the stage runs and before it starts.
    alerts = [raw_alert(fingerprint=f"f{i}") for i in range(600)]
    for message in alerts[:300]:
        await publish_raw(js, schemas.encode(message), message.id)
    async with running_stage(spec_of_kind(kind, enriched), settings):
        for message in alerts[300:]:
            await publish_raw(js, schemas.encode(message), message.id)
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=600)
        await caught_up(js, "enricher")
    assert sorted(m.id for m in out) == sorted(m.id for m in alerts)
    assert await subject_count(js, schemas.ENRICHED) == 600


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_poison_goes_to_dead_letters_and_the_next_message_still_flows(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    good = raw_alert()
    async with running_stage(spec_of_kind(kind, enriched), settings):
        await publish_raw(js, b'{"id": 42, "this is": "not a raw alert"}', "poison-1")
        await publish_raw(js, b"\xff\xfe not even utf-8", "poison-2")
        await publish_raw(js, schemas.encode(good), good.id)
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=1)
        dead = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=2)
    assert out[0].id == good.id
    by_id = {d.msg_id: d for d in dead}
    assert by_id["poison-1"].stage == "enricher"
    assert by_id["poison-1"].subject == schemas.RAW
    assert "cannot decode RawAlert" in by_id["poison-1"].error
    assert by_id["poison-1"].payload == '{"id": 42, "this is": "not a raw alert"}'
    assert by_id["poison-2"].payload_encoding == "base64"


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_a_handler_failing_twice_is_retried_and_published_once(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    attempts: Counter[str] = Counter()
    deliveries: list[int] = []

    def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        attempts[message.id] += 1
        deliveries.append(current_delivery())
        if attempts[message.id] == 1:
            raise ConnectionError("backend reset the connection")
        if attempts[message.id] == 2:
            raise RetryLater("backend said 429", delay=0.05)
        return enriched(message)

    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    message = raw_alert()
    async with running_stage(spec_of_kind(kind, handle), settings) as port:
        await publish_raw(js, schemas.encode(message), message.id)
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=1)
        await caught_up(js, "enricher")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
    assert out[0].id == message.id
    assert attempts[message.id] == 3
    assert deliveries == [1, 2, 3]  # JetStream's count, what handlers report as the attempt
    assert await subject_count(js, schemas.ENRICHED) == 1
    assert 'aiops_messages_total{outcome="retry",stage="enricher"} 2.0' in metrics
    assert 'aiops_messages_total{outcome="ok",stage="enricher"} 1.0' in metrics


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_rejected_and_exhausted_messages_are_dead_lettered_with_the_error(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        if message.alert.labels["alertname"] == "Reject":
            raise Reject("label set makes no sense")
        raise TimeoutError("prometheus did not answer")

    settings = fast_settings(nats_server.url, max_deliver=3)
    await provision(js, settings)
    rejected, exhausted = raw_alert("Reject", "r"), raw_alert("Exhaust", "e")
    async with running_stage(spec_of_kind(kind, handle), settings):
        for message in (rejected, exhausted):
            await publish_raw(js, schemas.encode(message), message.id)
        dead = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=2)
    by_id = {schemas.decode(d.payload, schemas.RawAlert).id: d for d in dead}
    assert by_id[rejected.id].error == "label set makes no sense"
    assert by_id[rejected.id].attempts == 1
    assert by_id[exhausted.id].attempts == 3
    assert "TimeoutError: prometheus did not answer" in by_id[exhausted.id].error
    assert await subject_count(js, schemas.ENRICHED) == 0


async def test_slow_work_is_not_redelivered_while_it_runs(nats_server: NatsServer, js: Any) -> None:
    calls: Counter[str] = Counter()

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        calls[message.id] += 1
        await asyncio.sleep(3.5)  # the workload: an LLM call longer than ack_wait
        return enriched(message)

    settings = fast_settings(nats_server.url, ack_wait_seconds=1)
    await provision(js, settings)
    message = raw_alert()
    async with running_stage(spec_for(handle), settings):
        await publish_raw(js, schemas.encode(message), message.id)
        await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=1, timeout=15)
        info = await js.consumer_info(schemas.STREAM, "enricher")
    assert calls[message.id] == 1
    assert info.num_redelivered == 0


async def test_shutdown_finishes_in_flight_work(nats_server: NatsServer, js: Any) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        entered.set()
        await release.wait()
        return enriched(message)

    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    message = raw_alert()
    stage = running_stage(spec_for(handle), settings)
    await stage.__aenter__()
    await publish_raw(js, schemas.encode(message), message.id)
    await asyncio.wait_for(entered.wait(), 10)
    stopping = asyncio.create_task(stage.__aexit__(None, None, None))
    release.set()
    await asyncio.wait_for(stopping, 30)
    info = await js.consumer_info(schemas.STREAM, "enricher")
    assert info.num_ack_pending == 0
    assert await subject_count(js, schemas.ENRICHED) == 1


async def test_health_endpoints(nats_server: NatsServer, js: Any) -> None:
    async def handle(message: schemas.RawAlert) -> None:
        return None

    settings = fast_settings(nats_server.url)
    async with running_stage(spec_for(handle), settings) as port, aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz"):
            async with http.get(f"http://127.0.0.1:{port}{path}") as response:
                assert response.status == 200, path
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    assert "aiops_in_flight" in text
    tasks = [line for line in text.splitlines() if line.startswith("aiops_asyncio_tasks ")]
    assert len(tasks) == 1
    assert float(tasks[0].split()[1]) >= 2  # at least the worker's loop and the /metrics request


def test_decoding_tolerates_unknown_fields() -> None:
    message = raw_alert()
    payload = msgspec.json.decode(schemas.encode(message))
    payload["added_by_a_newer_producer"] = {"nested": [1, 2]}
    assert schemas.decode(msgspec.json.encode(payload), schemas.RawAlert) == message


async def test_a_handler_runs_in_one_task_from_start_to_end(nats_server: NatsServer, js: Any) -> None:
    """Cancel scopes (openai, httpx, asyncio.timeout) must exit in the task they entered."""
    same_task: list[bool] = []

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        before = asyncio.current_task()
        async with asyncio.timeout(5):
            await asyncio.sleep(0.01)
        same_task.append(asyncio.current_task() is before)
        return enriched(message)

    settings = fast_settings(nats_server.url)
    await provision(js, settings)
    alerts = [raw_alert(fingerprint=f"t{i}") for i in range(5)]
    async with running_stage(spec_for(handle), settings):
        for message in alerts:
            await publish_raw(js, schemas.encode(message), message.id)
        await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=5)
    assert same_task == [True] * 5


@pytest.mark.parametrize("kind", HANDLER_KINDS)
async def test_alerts_sent_while_a_replica_stops_wait_for_no_ack_timeout(
    nats_server: NatsServer, js: Any, kind: str
) -> None:
    """A rolling restart: what reaches the stopping replica goes to the next one at once, not after
    ack_wait (30 s here), including messages its outstanding pull requests would still receive."""
    settings = fast_settings(nats_server.url, ack_wait_seconds=30)
    await provision(js, settings)
    alerts = [raw_alert(fingerprint=f"roll{i}") for i in range(20)]
    stopping = running_stage(spec_of_kind(kind, enriched), settings)
    await stopping.__aenter__()
    exiting = asyncio.create_task(stopping.__aexit__(None, None, None))
    for message in alerts[:10]:  # while it stops
        await publish_raw(js, schemas.encode(message), message.id)
    await asyncio.wait_for(exiting, 30)
    for message in alerts[10:]:  # after it stopped
        await publish_raw(js, schemas.encode(message), message.id)
    async with running_stage(spec_of_kind(kind, enriched), settings):
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=20, timeout=10)
    assert sorted(m.id for m in out) == sorted(m.id for m in alerts)


async def test_a_graceful_stop_logs_no_disconnection_warning(nats_server: NatsServer, js: Any) -> None:
    """Operators alert on 'disconnected, reconnecting'; a deliberate stop must not say it."""
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        settings = fast_settings(nats_server.url)
        async with running_stage(spec_of_kind("inline", enriched), settings):
            pass
    finally:
        logger.remove(sink)
    assert not [w for w in warnings if "disconnected" in w], warnings


def _blocked_stage(
    backlogs: list[Backlog], entered: asyncio.Event, release: asyncio.Event
) -> StageSpec[Any, Any]:
    """A stage whose handler waits for ``release``; its backlog appended to ``backlogs`` once built."""

    async def handle(message: schemas.RawAlert) -> schemas.EnrichedAlert:
        entered.set()
        await release.wait()
        return enriched(message)

    async def build(_: StageSettings, runtime: Runtime) -> Handler:
        backlogs.append(runtime.backlog("enricher"))
        return Handler(handle)

    return StageSpec(
        name="enricher",
        input_subject=schemas.RAW,
        input_type=schemas.RawAlert,
        output_subject=schemas.ENRICHED,
        build=build,
    )


@contextlib.asynccontextmanager
async def _stage_behind(
    nats_server: NatsServer, js: Any
) -> AsyncIterator[tuple[Backlog, asyncio.Event, list[schemas.RawAlert]]]:
    """100 alerts published to a stage that takes ten at a time and holds them until ``release`` is
    set; yields its backlog once it holds them, ``release`` and the alerts. Stops the stage on exit."""
    backlogs: list[Backlog] = []
    entered, release = asyncio.Event(), asyncio.Event()
    settings = fast_settings(nats_server.url, max_in_flight=10)
    await provision(js, settings)
    alerts = [raw_alert(fingerprint=f"f{i}") for i in range(100)]
    for message in alerts:
        await publish_raw(js, schemas.encode(message), message.id)
    async with running_stage(_blocked_stage(backlogs, entered, release), settings):
        (backlog,) = backlogs
        await asyncio.wait_for(entered.wait(), 10)
        yield backlog, release, alerts


async def test_a_stage_behind_its_input_says_so_until_it_has_done_the_last_message(
    nats_server: NatsServer, js: Any
) -> None:
    """What the analyst's incident reviews give way to (services/runtime/_backlog.py)."""
    async with _stage_behind(nats_server, js) as (backlog, release, alerts):
        # At most ten taken: the rest wait at the server, and the last message taken said so.
        assert backlog.behind
        assert 90 <= backlog.waiting < 100
        assert not await backlog.until_caught_up(within=0)
        release.set()
        assert await backlog.until_caught_up(within=20)
        assert backlog.waiting == 0
        out = await read_subject(js, schemas.ENRICHED, schemas.EnrichedAlert, count=100)
    assert sorted(m.id for m in out) == sorted(m.id for m in alerts)


async def test_a_stage_the_server_has_nothing_more_for_is_not_behind(
    nats_server: NatsServer, js: Any
) -> None:
    """The count a stage was last told goes stale when no message comes to tell it anew (here the
    waiting ones were purged; with replicas, another took the last): an unfilled request corrects it."""
    async with _stage_behind(nats_server, js) as (backlog, release, _):
        await js.purge_stream(schemas.STREAM, subject=schemas.RAW)
        release.set()
        assert await backlog.until_caught_up(within=20)


async def test_a_stopped_stage_is_not_behind(nats_server: NatsServer, js: Any) -> None:
    """Its companions (the analyst's reviews) must not wait, while the process stops, for alerts it
    will no longer take."""
    async with _stage_behind(nats_server, js) as (backlog, release, _):
        assert backlog.waiting >= 90
        release.set()  # the ten taken finish as the stage stops; the ninety left wait at the server
    assert not backlog.behind
