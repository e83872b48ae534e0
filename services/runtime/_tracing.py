"""OpenTelemetry tracing, set up only when an OTLP endpoint is configured.

W3C trace context (``traceparent``/``tracestate``) rides in NATS message headers beside
``Nats-Msg-Id``: ingest's span for the webhook request is the parent of the enricher's
span, which is the parent of the analyst's, then the notifier's, then its posts.

With no ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) nothing is imported or
set up and every helper returns at its first line. The standard ``OTEL_*`` variables
(sampler, headers, service name) are read by the SDK itself, the batching ones
(``OTEL_BSP_*``) by _span_queue.py.

What tracing costs is paid per recorded span, so the hot path keeps that small: the headers
are written and read here rather than through the SDK's propagator API; a message whose
trace was not sampled upstream gets no span (its context is forwarded as it came, which is
what a parent-based sampler would decide anyway); a stage's span under a sampled parent is a
``StageSpan`` record (_span.py) rather than the SDK's, queued and exported by a thread of ours
(_span_queue.py) beside the SDK's spans, and encoded for export by _otlp.py. Ingest's request
span and the notifier's post spans are records too (_http_spans.py, which reads this module's
state).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from schemas import MSG_ID_HEADER

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from services.runtime._span import StageSpan

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_follows_parent = False  # the sampler records a span only when the parent was sampled
_propagator: Any = None
# What the hot path calls, imported and bound by setup_tracing (an import statement per call costs).
_otel: Any = None
_StageSpan: Any = None  # the class, once set up: the hot path tests ``type(span) is _StageSpan``
# What the message being handled continues: its trace context when unsampled (passed on unchanged),
# or its StageSpan, kept out of OpenTelemetry's context (attaching to it costs a few µs a message);
# None: ask OpenTelemetry's context (a span of the SDK's, or none).
_handling: contextvars.ContextVar[dict[str, str] | Span | None] = contextvars.ContextVar(
    "handling", default=None
)
_NOTHING: contextlib.nullcontext[None] = contextlib.nullcontext()


def _wanted(environ: Mapping[str, str] = os.environ) -> bool:
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def setup_tracing(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting spans over OTLP/HTTP when an endpoint is set; True when tracing is on."""
    global _tracer, _provider, _follows_parent, _propagator, _otel, _StageSpan
    if _tracer is not None or not _wanted(environ):
        return _tracer is not None
    from types import SimpleNamespace

    from opentelemetry import context, trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from services.runtime._otlp import DirectOTLPSpanExporter, encode_ended
    from services.runtime._span import (
        CLIENT,
        CONSUMER,
        SERVER,
        StageSpan,
        normal_tracestate,
        root_parent,
        sampled_parent,
        unsampled_parent,
    )
    from services.runtime._span_queue import SpanQueue

    named = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": f"aiops-{service}"}
    # The SDK flushes what is still queued when the process exits (SIGTERM included).
    _provider = TracerProvider(resource=Resource.create(named))
    # One queue and export thread for the SDK's spans and the stages' records alike.
    scope = InstrumentationScope("aiops")
    exporter = DirectOTLPSpanExporter((_provider.resource, scope))
    queue = SpanQueue(exporter, environ)
    _provider.add_span_processor(queue)

    def ended(span: StageSpan) -> None:
        queue.add(encode_ended(span))

    trace.set_tracer_provider(_provider)
    _tracer = _provider.get_tracer("aiops")
    _follows_parent = isinstance(_provider.sampler, ParentBased)
    _propagator = TraceContextTextMapPropagator()
    _otel = SimpleNamespace(
        attach=context.attach,
        detach=context.detach,
        in_context=trace.set_span_in_context,
        current_span=trace.get_current_span,
        consumer=SpanKind.CONSUMER,
        error=StatusCode.ERROR,
        sampled_parent=sampled_parent,
        unsampled_parent=unsampled_parent,
        normal_tracestate=normal_tracestate,
        root_parent=root_parent,
        server=SERVER,
        client=CLIENT,
        sampler=_provider.sampler,
        server_kind=SpanKind.SERVER,
        client_kind=SpanKind.CLIENT,
        # Ingest's request span and the notifier's post spans as records too, when the SDK's would
        # have ids drawn as ours are.
        records=_follows_parent and type(_provider.id_generator) is RandomIdGenerator,
        # A stage's span under a sampled parent: what a parent-based sampler records anyway.
        stage_span=_stage_spans(
            StageSpan, _provider.resource, scope, ended if exporter.direct else queue.add, CONSUMER
        ),
    )
    _StageSpan = StageSpan
    return True


def _stage_spans(kind: Any, resource: Any, scope: Any, ended: Any, consumer: int) -> Any:
    """Makes a stage's span with the provider's parts bound (a closure: faster to call than a partial)."""

    def stage_span(
        name: str,
        parent: str,
        state: str | None,
        attributes: dict[str, Any] | None,
        span_kind: int = consumer,
        remote: bool = True,
    ) -> Any:
        return kind(name, parent, state, attributes, resource, scope, ended, span_kind, remote)

    return stage_span


def tracing_enabled() -> bool:
    return _tracer is not None


def stop_tracing() -> None:
    """Send the spans still queued and turn tracing off (at exit the SDK flushes by itself)."""
    global _tracer, _provider, _otel
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider, _otel = None, None, None


def traced_handling(stage: str, headers: Mapping[str, str] | None) -> contextlib.AbstractContextManager[Any]:
    """The span one stage's handling of one message runs in, continuing the message's trace."""
    if _tracer is None:
        return _NOTHING
    return _Handling(_tracer, stage, headers)


def _unsampled(traceparent: str) -> bool:
    # "00-<trace id>-<parent id>-<flags>": the flags' lowest bit says the trace is sampled.
    return _follows_parent and len(traceparent) == 55 and traceparent[54] in "02468ace"


def forwarded(traceparent: str, tracestate: str | None) -> dict[str, str]:
    """The context of a trace not sampled, passed on as it came: no span, no new span id."""
    kept = {TRACEPARENT: traceparent}
    if tracestate is not None:
        kept[TRACESTATE] = tracestate
    return kept


class _Handling:
    """A class rather than a generator: entered once per message, it is the hot path's tracing."""

    __slots__ = ("attached", "headers", "span", "stage", "token", "tracer")

    def __init__(self, tracer: Tracer, stage: str, headers: Mapping[str, str] | None) -> None:
        self.tracer, self.stage, self.headers = tracer, stage, headers
        self.span: Span | None = None
        self.attached: object = None

    def __enter__(self) -> None:
        headers = self.headers or {}
        traceparent = headers.get(TRACEPARENT)
        if traceparent is not None and _unsampled(traceparent):
            self.token = _handling.set(forwarded(traceparent, headers.get(TRACESTATE)))
            return
        # One attribute: the message id names the alert (and the stage that published it).
        message_id = headers.get(MSG_ID_HEADER)
        attributes = {"messaging.message.id": message_id} if message_id else None
        if traceparent and _follows_parent and _otel.sampled_parent(traceparent):
            state = headers.get(TRACESTATE)
            state = _otel.normal_tracestate(state) if state else None
            self.span = _otel.stage_span(self.stage, traceparent, state, attributes)
            self.token = _handling.set(self.span)
        else:
            # A new trace (no parent, or one only the SDK's propagator reads), or a sampler of another kind.
            extracted = _propagator.extract(headers) if traceparent else None
            self.span = self.tracer.start_span(self.stage, extracted, _otel.consumer, attributes)
            self.attached = _otel.attach(_otel.in_context(self.span))
            self.token = _handling.set(None)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        _handling.reset(self.token)
        if self.span is None:
            return
        if self.attached is not None:
            _otel.detach(self.attached)
        if exc is not None:
            self.span.set_status(_otel.error, f"{type(exc).__name__}: {exc}"[:300])
        self.span.end()


def _current_span() -> Span | None:
    """The span being worked in; None for an unsampled message (its context is forwarded instead)."""
    current = _handling.get()
    if isinstance(current, dict):
        return None
    return current if current is not None else _otel.current_span()


def trace_failure(reason: str) -> None:
    """Mark the span being handled as failed (retried or dead-lettered)."""
    if _tracer is None:
        return
    span = _current_span()
    if span is not None:
        span.set_status(_otel.error, reason[:300])


def add_trace_context(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context to outgoing headers (in place); unchanged when tracing is off."""
    if _tracer is None:
        return headers
    current = _handling.get()
    if isinstance(current, dict):  # an unsampled trace's context, forwarded
        headers.update(current)
        return headers
    if type(current) is _StageSpan:  # its header written once, when it began
        stage = cast("StageSpan", current)
        headers[TRACEPARENT] = stage.traceparent
        if stage.tracestate:
            headers[TRACESTATE] = stage.tracestate
        return headers
    context = (current or _otel.current_span()).get_span_context()
    if context.is_valid:
        headers[TRACEPARENT] = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        if context.trace_state:
            headers[TRACESTATE] = context.trace_state.to_header()
    return headers


def current_trace_id() -> str:
    """The trace id being worked in, as 32 hex digits; empty outside any trace or with tracing off."""
    if _tracer is None:
        return ""
    current = _handling.get()
    if isinstance(current, dict):
        return current[TRACEPARENT][3:35]
    if type(current) is _StageSpan:
        return cast("StageSpan", current).trace_id
    context = (current or _otel.current_span()).get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""
