"""A local OpenTelemetry collector: OTLP/HTTP protobuf in (``POST /v1/traces``), spans kept in memory.

It speaks what a real collector speaks to the SDK's exporter: an ``ExportTraceServiceRequest``
body (gzip when the exporter compresses), an ``ExportTraceServiceResponse`` answer. With
``keep=False`` it only counts spans, as a sink for the benchmark.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PROTOBUF = "application/x-protobuf"
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a trace's root
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    return (
        getattr(value, which)
        if which in ("string_value", "int_value", "bool_value", "double_value")
        else None
    )


def decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        error=span.status.code == 2,  # STATUS_CODE_ERROR
                    )
                )
    return spans


def _count(body: bytes) -> int:
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


class FakeCollector:
    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.spans: list[Span] = []
        self.count = 0
        self.requests = 0
        self._arrival = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """What ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set to; the exporter appends ``/v1/traces``."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _export(self, request: web.Request) -> web.Response:
        if request.content_type != PROTOBUF:
            return web.Response(status=415, text=f"expected {PROTOBUF}")
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            # A sink only counts, in C, so that it takes little of the CPU it is there to measure.
            spans = decode(body) if self.keep else []
            count = len(spans) if self.keep else _count(body)
        except Exception as exc:  # the real collector answers 400 to a body it cannot read
            return web.Response(status=400, text=f"cannot decode ExportTraceServiceRequest: {exc}")
        async with self._arrival:
            self.requests += 1
            self.count += count
            self.spans.extend(spans)
            self._arrival.notify_all()
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type=PROTOBUF)

    async def wait_count(self, count: int, within: float) -> bool:
        """Whether ``count`` spans arrived within ``within`` seconds."""

        async def arrived() -> None:
            async with self._arrival:
                await self._arrival.wait_for(lambda: self.count >= count)

        try:
            await asyncio.wait_for(arrived(), within)
        except TimeoutError:
            return False
        return True

    async def wait_until(self, done: Callable[[list[Span]], bool], within: float, what: str) -> list[Span]:
        """Wait until ``done(spans)``; fail saying ``what`` was expected and what did arrive."""

        async def arrived() -> None:
            async with self._arrival:
                await self._arrival.wait_for(lambda: done(self.spans))

        try:
            await asyncio.wait_for(arrived(), within)
        except TimeoutError:
            names = sorted({(s.service, s.name) for s in self.spans})
            raise AssertionError(f"expected {what}; got {len(self.spans)} spans: {names}") from None
        return self.spans
