"""Ended spans reach a collector in batches as the ``OTEL_BSP_*`` variables say, what is queued
when tracing stops is sent, and spans beyond the queue's bound are dropped, counted and logged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from loguru import logger
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from services.runtime._otlp import DirectOTLPSpanExporter
from services.runtime._span import StageSpan
from services.runtime._span_queue import SpanQueue, batch_settings
from tests.fakes.otlp import PROTOBUF, FakeCollector, decode

RESOURCE = Resource.create({"service.name": "aiops-analyst"})
SCOPE = InstrumentationScope("aiops")


def spans(queue: SpanQueue, first: int, count: int) -> None:
    """End ``count`` stage spans named by number into ``queue``."""
    for number in range(first, first + count):
        parent = f"00-{number + 1:032x}-00f067aa0ba902b7-01"
        StageSpan(str(number), parent, None, None, RESOURCE, SCOPE, queue.add).end()


def span_queue(monkeypatch: pytest.MonkeyPatch, endpoint: str, **settings: str) -> SpanQueue:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)  # read by the SDK's exporter
    return SpanQueue(DirectOTLPSpanExporter(), {f"OTEL_BSP_{k.upper()}": v for k, v in settings.items()})


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    fake = await FakeCollector().start()
    yield fake
    await fake.close()


async def test_a_full_batch_goes_at_once_and_the_rest_after_the_delay(
    monkeypatch: pytest.MonkeyPatch, collector: FakeCollector
) -> None:
    queue = span_queue(monkeypatch, collector.endpoint, max_export_batch_size="4", schedule_delay="300")
    try:
        spans(queue, 0, 4)
        assert await collector.wait_count(4, 5)
        assert collector.requests == 1
        spans(queue, 4, 1)  # waits for the schedule delay
        assert await collector.wait_count(5, 5)
        assert collector.requests == 2
    finally:
        await asyncio.to_thread(queue.shutdown)
    assert [span.name for span in collector.spans] == ["0", "1", "2", "3", "4"]


async def test_what_is_queued_is_sent_when_tracing_stops(
    monkeypatch: pytest.MonkeyPatch, collector: FakeCollector
) -> None:
    queue = span_queue(monkeypatch, collector.endpoint, schedule_delay="600000")
    spans(queue, 0, 3)
    await asyncio.to_thread(queue.shutdown)
    assert [span.name for span in collector.spans] == ["0", "1", "2"]


async def test_spans_beyond_the_queue_are_dropped_oldest_first_and_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A collector that holds the first export until told: meanwhile spans pile up in the queue.
    received: list[list[str]] = []
    arrived, release = asyncio.Event(), asyncio.Event()

    async def export(request: web.Request) -> web.Response:
        received.append([span.name for span in decode(await request.read())])
        arrived.set()
        await release.wait()
        return web.Response(body=b"", content_type=PROTOBUF)

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    logged: list[str] = []
    sink = logger.add(logged.append, level="WARNING")
    queue = span_queue(monkeypatch, f"http://127.0.0.1:{port}", max_queue_size="4", max_export_batch_size="2")
    try:
        spans(queue, 0, 2)
        await asyncio.wait_for(arrived.wait(), 5)  # the first batch is being exported
        spans(queue, 2, 6)  # 2 and 3 make way for 6 and 7
        release.set()
        await asyncio.to_thread(queue.shutdown)
    finally:
        logger.remove(sink)
        await runner.cleanup()
    assert received == [["0", "1"], ["4", "5"], ["6", "7"]]
    assert any("2 span(s) dropped: more than OTEL_BSP_MAX_QUEUE_SIZE=4 waited" in line for line in logged)


def test_batch_settings_default_as_the_sdks_do() -> None:
    assert batch_settings({}) == {
        "OTEL_BSP_SCHEDULE_DELAY": 5000,
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
        "OTEL_BSP_MAX_QUEUE_SIZE": 2048,
        "OTEL_BSP_EXPORT_TIMEOUT": 30000,
    }
    odd = batch_settings({"OTEL_BSP_SCHEDULE_DELAY": "soon", "OTEL_BSP_MAX_QUEUE_SIZE": "100"})
    assert odd["OTEL_BSP_SCHEDULE_DELAY"] == 5000
    assert odd["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] == 100  # never more than may wait
