"""OpenTelemetry tracing, set up only when an OTLP endpoint is configured.

W3C trace context (``traceparent``/``tracestate``) rides in NATS message headers beside
``Nats-Msg-Id``: ingest's span for the webhook request is the parent of the enricher's
span, which is the parent of the analyst's, then the notifier's, then its posts.

With no ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) nothing is imported or
set up and every helper returns at its first line. The standard ``OTEL_*`` variables
(sampler, batch delay, headers, service name) are read by the SDK itself.

On the hot path the headers are written and read here rather than through the SDK's
propagator API (a quarter of a span's cost per hop), and a message whose trace was not
sampled upstream gets no span: its context is forwarded as it came, which is what a
parent-based sampler would decide anyway, for a dictionary lookup instead of a span.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from schemas import MSG_ID_HEADER

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_follows_parent = False  # the sampler records a span only when the parent was sampled
_propagator: Any = None
# The trace context of an unsampled message being handled, passed on unchanged.
_forwarded: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("forwarded", default=None)
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()


def _wanted(environ: Mapping[str, str] = os.environ) -> bool:
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting spans over OTLP/HTTP when an endpoint is set; True when tracing is on."""
    global _tracer, _provider, _follows_parent, _propagator
    if _tracer is not None or not _wanted(environ):
        return _tracer is not None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    named = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": f"aiops-{service}"}
    # The SDK flushes what is still queued when the process exits (SIGTERM included).
    _provider = TracerProvider(resource=Resource.create(named))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("aiops")
    _follows_parent = isinstance(_provider.sampler, ParentBased)
    _propagator = TraceContextTextMapPropagator()
    return True


def tracing_enabled() -> bool:
    return _tracer is not None


def _parent(headers: Mapping[str, str] | None) -> tuple[Any, dict[str, str] | None]:
    """The OpenTelemetry context to continue, or the headers to forward when the trace is unsampled."""
    if not headers or TRACEPARENT not in headers:
        return None, None
    parent = headers[TRACEPARENT]
    # "00-<trace id>-<parent id>-<flags>": the flags' lowest bit says the trace is sampled.
    if _follows_parent and len(parent) == 55 and parent[54] in "02468ace":
        kept = {TRACEPARENT: parent}
        if TRACESTATE in headers:
            kept[TRACESTATE] = headers[TRACESTATE]
        return None, kept
    return _propagator.extract(headers), None


def traced_handling(stage: str, headers: Mapping[str, str] | None) -> contextlib.AbstractContextManager[Any]:
    """The span one stage's handling of one message runs in, continuing the message's trace."""
    if _tracer is None:
        return _NOTHING
    return _Handling(_tracer, stage, headers)


class _Handling:
    """A class rather than a generator: entered once per message, it is the hot path's tracing."""

    __slots__ = ("attached", "headers", "span", "stage", "token", "tracer")

    def __init__(self, tracer: Tracer, stage: str, headers: Mapping[str, str] | None) -> None:
        self.tracer, self.stage, self.headers = tracer, stage, headers
        self.span: Span | None = None

    def __enter__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind

        parent, forwarded = _parent(self.headers)
        if forwarded is not None:
            self.token = _forwarded.set(forwarded)
            return
        # One attribute: the message id names the alert (and the stage that published it).
        message_id = self.headers.get(MSG_ID_HEADER) if self.headers else None
        attributes = {"messaging.message.id": message_id} if message_id else None
        self.span = self.tracer.start_span(self.stage, parent, SpanKind.CONSUMER, attributes)
        self.attached = context.attach(trace.set_span_in_context(self.span))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        from opentelemetry import context
        from opentelemetry.trace import StatusCode

        if self.span is None:
            _forwarded.reset(self.token)
            return
        context.detach(self.attached)
        if exc is not None:
            self.span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:300])
        self.span.end()


def traced_request(
    method: str, route: str, headers: Mapping[str, str]
) -> contextlib.AbstractContextManager[Any]:
    """A server span for a POST (a webhook), continuing the sender's ``traceparent`` if it sent one."""
    if _tracer is None or method != "POST":
        return _NOTHING
    from opentelemetry.trace import SpanKind

    # Not _parent(): an unsampled sender still needs this span's context (unrecorded) passed on.
    context = _propagator.extract(headers) if TRACEPARENT in headers else None
    attributes = {"http.request.method": method, "http.route": route}
    return _tracer.start_as_current_span(
        f"{method} {route}", context=context, kind=SpanKind.SERVER, attributes=attributes
    )


def traced_post(url: str, method: str = "POST") -> contextlib.AbstractContextManager[Any]:
    """A client span for one outbound request, naming only the host: webhook paths are credentials."""
    if _tracer is None:
        return _NOTHING
    from opentelemetry.trace import SpanKind
    from yarl import URL

    attributes = {"http.request.method": method, "server.address": URL(url).host or ""}
    return _tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes)


def trace_http_status(span: Span | None, status: int, failed: bool, reason: str = "") -> None:
    """Record an HTTP answer on a span from ``traced_request`` or ``traced_post`` (status 0: none came)."""
    if span is None:
        return
    from opentelemetry.trace import StatusCode

    if status:
        span.set_attribute("http.response.status_code", status)
    if failed:
        span.set_status(StatusCode.ERROR, reason or f"HTTP {status}")


def trace_failure(reason: str) -> None:
    """Mark the span being handled as failed (retried or dead-lettered)."""
    if _tracer is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import StatusCode

    trace.get_current_span().set_status(StatusCode.ERROR, reason[:300])


def add_trace_context(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context to outgoing headers (in place); unchanged when tracing is off."""
    if _tracer is None:
        return headers
    forwarded = _forwarded.get()
    if forwarded is not None:
        headers.update(forwarded)
        return headers
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        headers[TRACEPARENT] = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        if context.trace_state:
            headers[TRACESTATE] = context.trace_state.to_header()
    return headers


def current_trace_id() -> str:
    """The trace id being worked in, as 32 hex digits; empty outside any trace or with tracing off."""
    if _tracer is None:
        return ""
    forwarded = _forwarded.get()
    if forwarded is not None:
        return forwarded[TRACEPARENT][3:35]
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""
