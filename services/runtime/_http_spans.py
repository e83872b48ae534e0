"""The HTTP spans: ingest's for a webhook request, the notifier's for each post to a destination.

Both are records of ours (_span.py) under a parent-based sampler, as a stage's span is; otherwise,
and for a ``traceparent`` only the SDK's propagator reads, the SDK's span. Tracing's state (set up
or not, the sampler, the message being handled) is _tracing.py's, read through the module: setting
up rebinds it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from services.runtime import _tracing as tracing
from services.runtime._tracing import TRACEPARENT, TRACESTATE

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from services.runtime._span import StageSpan


@contextlib.contextmanager
def _sdk_span(opened: contextlib.AbstractContextManager[Span]) -> Iterator[Span]:
    """An SDK span made current: inside it, trace context and log lines name it, not the handling's."""
    token = tracing._handling.set(None)
    try:
        with opened as span:
            yield span
    finally:
        tracing._handling.reset(token)


def traced_request(
    method: str, route: str, headers: Mapping[str, str]
) -> contextlib.AbstractContextManager[Any]:
    """A server span for a POST (a webhook), continuing the sender's ``traceparent`` if it sent one.

    Entered as the span (for ``trace_http_status``), or None when the trace is not sampled.
    """
    tracer, otel = tracing._tracer, tracing._otel
    if tracer is None or method != "POST":
        return tracing._NOTHING
    traceparent = headers.get(TRACEPARENT)
    attributes = {"http.request.method": method, "http.route": route}
    if otel.records and (traceparent is None or otel.sampled_parent(traceparent)):
        state = headers.get(TRACESTATE) if traceparent is not None else None
        state = otel.normal_tracestate(state) if state else None
        return _Recorded(f"{method} {route}", otel.server, attributes, traceparent, state)
    # Validated in full here, where a header comes from outside: a malformed one starts a new trace
    # (the SDK's path below), it never travels on through the stages' headers and logs.
    if traceparent is not None and tracing._follows_parent and otel.unsampled_parent(traceparent):
        return _Forwarded(traceparent, headers.get(TRACESTATE))
    # Another sampler or id generator, or a header only the SDK's propagator reads.
    context = tracing._propagator.extract(headers) if traceparent is not None else None
    name = f"{method} {route}"
    return _sdk_span(tracer.start_as_current_span(name, context, otel.server_kind, attributes))


class _Forwarded:
    """A request of an unsampled trace: its context is passed on as it came (as a stage's is), no span."""

    __slots__ = ("kept", "token")

    def __init__(self, traceparent: str, tracestate: str | None) -> None:
        self.kept = tracing.forwarded(traceparent, tracestate)

    def __enter__(self) -> None:
        self.token = tracing._handling.set(self.kept)

    def __exit__(self, *_: object) -> None:
        tracing._handling.reset(self.token)


class _Recorded:
    """Ingest's span for a request, or the notifier's for a post, as a record (_span.py): what the
    SDK's span would be, at a fraction of its cost. A root's sampling decision is still the
    configured sampler's; a child of a sampled parent is sampled, as a parent-based sampler decides."""

    __slots__ = ("attributes", "kind", "name", "parent", "remote", "span", "state", "token")

    def __init__(
        self,
        name: str,
        kind: int,
        attributes: dict[str, Any],
        parent: str | None,
        state: str | None,
        remote: bool = True,
    ) -> None:
        """``parent``: a sampled ``traceparent`` (None: a new trace); ``state``: its normal ``tracestate``."""
        self.name, self.kind, self.attributes, self.parent = name, kind, attributes, parent
        self.state, self.remote = state, remote
        self.span: Any = None

    def __enter__(self) -> StageSpan | None:
        otel = tracing._otel
        parent, attributes = self.parent, self.attributes
        if parent is None:
            trace_id = random.getrandbits(128)
            while not trace_id:
                trace_id = random.getrandbits(128)
            sampling = otel.sampler.should_sample(None, trace_id, self.name, otel.server_kind, attributes)
            if not sampling.decision.is_sampled():
                span_id = random.getrandbits(64) or 1
                # Flags: not sampled, the trace id random (W3C's 0x02), as the SDK writes them.
                self.token = tracing._handling.set({TRACEPARENT: f"00-{trace_id:032x}-{span_id:016x}-02"})
                return None
            parent, attributes = otel.root_parent(trace_id, "03"), dict(sampling.attributes)
        self.span = otel.stage_span(self.name, parent, self.state, attributes, self.kind, self.remote)
        self.token = tracing._handling.set(self.span)
        return cast("StageSpan", self.span)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        tracing._handling.reset(self.token)
        span = self.span
        if span is None:
            return
        if isinstance(exc, Exception):  # as the SDK's start_as_current_span records one escaping
            span.record_exception(exc)
            span.set_status(tracing._otel.error, f"{type(exc).__name__}: {exc}")
        span.end()


def traced_post(url: str, method: str = "POST") -> contextlib.AbstractContextManager[Any]:
    """A client span for one outbound request, naming only the host: webhook paths are credentials.

    None in an unsampled trace: the handling's context goes out with the request as it came.
    """
    tracer, otel = tracing._tracer, tracing._otel
    if tracer is None:
        return tracing._NOTHING
    parent = tracing._current_span()
    if parent is None:
        return tracing._NOTHING
    from yarl import URL

    attributes = {"http.request.method": method, "server.address": URL(url).host or ""}
    if otel.records and type(parent) is tracing._StageSpan:  # the stage's record: the post's is one too
        stage = cast("StageSpan", parent)
        return _Recorded(method, otel.client, attributes, stage.traceparent, stage.tracestate, remote=False)
    return _sdk_span(
        tracer.start_as_current_span(method, otel.in_context(parent), otel.client_kind, attributes)
    )


def trace_http_status(span: Span | None, status: int, failed: bool, reason: str = "") -> None:
    """Record an HTTP answer on a span from ``traced_request`` or ``traced_post`` (status 0: none came)."""
    if span is None:
        return
    from opentelemetry.trace import StatusCode

    if status:
        span.set_attribute("http.response.status_code", status)
    if failed:
        span.set_status(StatusCode.ERROR, reason or f"HTTP {status}")
