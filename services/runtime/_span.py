"""A stage's span as a plain record, made without the SDK's per-span machinery.

A stage handles a message whose ``traceparent`` says its trace is sampled; with a
parent-based sampler (the SDK's default and the documented ratio sampler) the SDK would
record the span whatever else it is configured with, yet its span costs many times this one
(bench.tracing): the sampler's call, attribute validation, a lock per span, a copy of the
span at its end and the batch processor's bookkeeping.
This record keeps what the collector receives (ids, flags, parent, name, times, status,
attributes), in the form it travels in: the incoming ``traceparent`` is kept as it came and
the outgoing one written once, so no ``SpanContext`` is built unless someone asks for one
(the notifier's post span does, as its parent). When it ends it is written to OTLP by
_otlp.py and queued for export (_span_queue.py); ``to_readable`` gives the SDK's form of the
same span, for the SDK's encoder.

Ingest's span for a webhook request is one too (kind SERVER): the child of the sender's sampled
``traceparent``, or a root, whose ``parent`` is ``root_parent``'s (no parent span id); and so is
the notifier's span for a post (kind CLIENT), the child of its stage span in the same process
(``remote`` False).
"""

from __future__ import annotations

import random
import re
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.util.types import AttributeValue

# Version 00 as the W3C recommendation writes it; any other form is left to the SDK's propagator.
# A regex rather than slicing and set tests: measured, it is the faster check of the layout.
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE, _NO_SPAN = "0" * 32, "0" * 16
# The flags' last hex digit: its lowest bit says whether the trace is sampled.
_SAMPLED_FLAGS = frozenset("13579bdf")
_UNSAMPLED_FLAGS = frozenset("02468ace")
UNSET_STATUS = Status(StatusCode.UNSET)  # every span's until one is set: shared
# An enum's .value is slow to read: the kinds' values, once.
CONSUMER, SERVER, CLIENT = SpanKind.CONSUMER.value, SpanKind.SERVER.value, SpanKind.CLIENT.value


def sampled_parent(traceparent: str) -> bool:
    """True when ``traceparent`` is a valid version-00 header of a sampled trace."""
    return traceparent[54:] in _SAMPLED_FLAGS and _valid(traceparent)


def unsampled_parent(traceparent: str) -> bool:
    """True when ``traceparent`` is a valid version-00 header of a trace not sampled."""
    return traceparent[54:] in _UNSAMPLED_FLAGS and _valid(traceparent)


def _valid(traceparent: str) -> bool:
    return (
        _TRACEPARENT.fullmatch(traceparent) is not None
        and traceparent[3:35] != _NO_TRACE
        and traceparent[36:52] != _NO_SPAN
    )


def root_parent(trace_id: int, flags: str) -> str:
    """The ``parent`` of a root span: its trace id and flags, and no parent span id (all zeros,
    which no valid ``traceparent`` carries)."""
    return f"00-{trace_id:032x}-{_NO_SPAN}-{flags}"


class StageSpan(Span):
    """A consumer span continuing a sampled remote parent (or another ``kind`` of span, or a
    root: see ``root_parent``); queued for export when it ends."""

    __slots__ = (
        "_ended",
        "attributes",
        "end_time",
        "events",
        "instrumentation_scope",
        "kind",
        "name",
        "parent",
        "remote",
        "resource",
        "span_id",
        "start_time",
        "status",
        "traceparent",
        "tracestate",
    )

    def __init__(
        self,
        name: str,
        parent: str,
        tracestate: str | None,
        attributes: dict[str, AttributeValue] | None,
        resource: Resource,
        scope: InstrumentationScope,
        ended: Callable[[StageSpan], None],
        kind: int = CONSUMER,
        remote: bool = True,
    ) -> None:
        """``parent``: a ``traceparent`` that ``sampled_parent`` accepted, or ``root_parent``'s;
        ``tracestate`` as ``TraceState.to_header`` writes it (``normal_tracestate``); ``kind``: a
        ``SpanKind``'s value; ``remote``: whether the parent is another process's."""
        span_id = random.getrandbits(64)
        while not span_id:
            span_id = random.getrandbits(64)
        self.name, self.parent, self.tracestate, self.span_id = name, parent, tracestate, span_id
        self.kind, self.remote = kind, remote
        # The parent's trace id and flags (sampled, random trace id) carry on, as the SDK keeps them.
        self.traceparent = f"{parent[:36]}{span_id:016x}{parent[52:]}"
        self.attributes = attributes
        self.events: tuple[Event, ...] = ()
        self.status = UNSET_STATUS
        self.resource, self.instrumentation_scope, self._ended = resource, scope, ended
        self.end_time: int | None = None
        self.start_time = time.time_ns()

    @property
    def trace_id(self) -> str:
        return self.parent[3:35]

    def get_span_context(self) -> SpanContext:
        state = TraceState.from_header([self.tracestate]) if self.tracestate else None
        flags = TraceFlags(int(self.parent[53:], 16))
        return SpanContext(int(self.trace_id, 16), self.span_id, False, flags, state)

    @property
    def is_root(self) -> bool:
        return self.parent[36:52] == _NO_SPAN

    def parent_context(self) -> SpanContext | None:
        if self.is_root:
            return None
        state = TraceState.from_header([self.tracestate]) if self.tracestate else None
        flags = TraceFlags(int(self.parent[53:], 16))
        return SpanContext(int(self.trace_id, 16), int(self.parent[36:52], 16), self.remote, flags, state)

    def is_recording(self) -> bool:
        return self.end_time is None

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time if end_time is not None else time.time_ns()
            self._ended(self)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.end_time is None:
            self.attributes = {**(self.attributes or {}), key: value}

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is None:
            self.attributes = {**(self.attributes or {}), **attributes}

    def add_event(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is None:
            from opentelemetry.sdk.trace import Event

            self.events = (*self.events, Event(name, attributes, timestamp or time.time_ns()))

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK's span: OK is final, UNSET changes nothing.
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self.status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        # As the SDK's span records one (an exception escaping ingest's request span is).
        kind, module = type(exception).__qualname__, type(exception).__module__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{kind}" if module and module != "builtins" else kind,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        self.add_event("exception", {**recorded, **(attributes or {})}, timestamp)

    def to_readable(self) -> ReadableSpan:
        """The SDK's record of this span: what its encoder and other exporters take."""
        from opentelemetry.sdk.trace import ReadableSpan

        return ReadableSpan(
            self.name,
            self.get_span_context(),
            self.parent_context(),
            self.resource,
            self.attributes,
            self.events,
            kind=SpanKind(self.kind),
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.instrumentation_scope,
        )


def normal_tracestate(tracestate: str | None) -> str | None:
    """A ``tracestate`` as the SDK would forward and export it (invalid entries dropped), or None."""
    if not tracestate:
        return None
    return TraceState.from_header([tracestate]).to_header() or None
