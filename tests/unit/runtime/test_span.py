"""A stage's span record is the span the SDK would have made for the same message, and goes out
in the same bytes; its ``traceparent`` checks follow the W3C layout."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.runtime._otlp import encode_ended, encode_request, encode_stage_span
from services.runtime._span import StageSpan, normal_tracestate, sampled_parent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE}-00f067aa0ba902b7-01"
STATE = "vendor=a,other=b"
ATTRIBUTES = {"messaging.message.id": "enricher:é1"}


def sdk_span(resource: Resource, fail: str | None) -> ReadableSpan:
    """The SDK's own span for the message: its default (parent-based) sampler, its propagator."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    parent = TraceContextTextMapPropagator().extract({"traceparent": SAMPLED, "tracestate": STATE})
    span = provider.get_tracer("aiops").start_span("analyst", parent, SpanKind.CONSUMER, ATTRIBUTES)
    if fail:
        span.set_status(StatusCode.ERROR, fail)
    span.end()
    (finished,) = memory.get_finished_spans()
    return finished


def record(resource: Resource, fail: str | None) -> StageSpan:
    ended: list[StageSpan] = []
    scope = InstrumentationScope("aiops")
    span = StageSpan("analyst", SAMPLED, normal_tracestate(STATE), ATTRIBUTES, resource, scope, ended.append)
    if fail:
        span.set_status(StatusCode.ERROR, fail)
    span.end()
    assert ended == [span]
    return span


def message(span: ReadableSpan) -> SpanMessage:
    return encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]


@pytest.mark.parametrize("fail", [None, "ValueError: no rule matched ✗"])
def test_a_record_goes_out_as_the_sdks_span_would(fail: str | None) -> None:
    resource = Resource.create({"service.name": "aiops-analyst"})
    ours, theirs = record(resource, fail), message(sdk_span(resource, fail))

    sent = SpanMessage.FromString(encode_stage_span(ours))

    # Only what differs by nature: a span's own random id and its clock.
    for field in ("span_id", "start_time_unix_nano", "end_time_unix_nano"):
        setattr(theirs, field, getattr(sent, field))
    assert sent == theirs
    assert encode_stage_span(ours) == message(ours.to_readable()).SerializeToString()
    assert ours.traceparent == f"00-{TRACE}-{sent.span_id.hex()}-01"


def test_the_outgoing_context_is_the_span_itself() -> None:
    span = record(Resource.create({}), None)
    context = span.get_span_context()
    assert (f"{context.trace_id:032x}", context.span_id, context.trace_flags) == (TRACE, span.span_id, 1)
    assert context.trace_state.to_header() == STATE
    assert not context.is_remote


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (SAMPLED, True),
        (f"00-{TRACE}-00f067aa0ba902b7-03", True),  # sampled, random trace id
        (f"00-{TRACE}-00f067aa0ba902b7-00", False),  # not sampled
        (f"00-{TRACE.upper()}-00f067aa0ba902b7-01", False),  # W3C: lowercase only
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", False),  # an all-zero id is invalid
        (f"00-{TRACE}-{'0' * 16}-01", False),
        (f"01-{TRACE}-00f067aa0ba902b7-01", False),  # another version: the SDK's propagator reads it
        (f"00-{TRACE}-00f067aa0ba902b7-01-", False),
        (f"00-{TRACE[:-1]}g-00f067aa0ba902b7-01", False),
        (f"00-{TRACE}_00f067aa0ba902b7-01", False),
        ("00-not-a-trace-context", False),
    ],
)
def test_a_traceparent_is_read_only_in_the_w3c_layout(header: str, accepted: bool) -> None:
    assert sampled_parent(header) is accepted


def test_an_invalid_tracestate_is_dropped_as_the_sdk_drops_it() -> None:
    assert normal_tracestate("a=1,b=2") == "a=1,b=2"
    assert normal_tracestate("not a list member") is None
    assert normal_tracestate(None) is None


def test_a_record_with_events_is_left_to_the_sdks_encoder() -> None:
    ended: list[StageSpan] = []
    resource, scope = Resource.create({}), InstrumentationScope("aiops")
    span = StageSpan("notifier", SAMPLED, None, ATTRIBUTES, resource, scope, ended.append)
    span.record_exception(ValueError("refused"))
    span.end()

    assert encode_ended(span) is span
    expected = encode_spans([span.to_readable()]).SerializeToString()
    assert encode_request([span], {}, (resource, scope)) == expected
