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
from opentelemetry.trace import NonRecordingSpan, SpanKind, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from services.runtime._otlp import encode_ended, encode_request, encode_stage_span
from services.runtime._span import CLIENT, SERVER, StageSpan, normal_tracestate, root_parent, sampled_parent

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE}-00f067aa0ba902b7-01"
STATE = "vendor=a,other=b"
ATTRIBUTES: dict[str, AttributeValue] = {"messaging.message.id": "enricher:é1"}


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
    encoded: SpanMessage = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]
    return encoded


def assert_sent_as_the_sdks(ours: StageSpan, theirs: SpanMessage) -> SpanMessage:
    """Our record's wire form equals the SDK's span but for what differs by nature (a span's own random
    id and its clock); returns ours."""
    sent: SpanMessage = SpanMessage.FromString(encode_stage_span(ours))
    for field in ("span_id", "start_time_unix_nano", "end_time_unix_nano"):
        setattr(theirs, field, getattr(sent, field))
    assert sent == theirs
    assert encode_stage_span(ours) == message(ours.to_readable()).SerializeToString()
    return sent


@pytest.mark.parametrize("fail", [None, "ValueError: no rule matched ✗"])
def test_a_record_goes_out_as_the_sdks_span_would(fail: str | None) -> None:
    resource = Resource.create({"service.name": "aiops-analyst"})
    ours, theirs = record(resource, fail), message(sdk_span(resource, fail))

    sent = assert_sent_as_the_sdks(ours, theirs)
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


def sdk_request_span(resource: Resource, sender: dict[str, str]) -> ReadableSpan:
    """The SDK's own span for ingest's request, as ``traced_request`` made it before."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    parent = TraceContextTextMapPropagator().extract(sender) if sender else None
    attributes: dict[str, AttributeValue] = {
        "http.request.method": "POST",
        "http.route": "/webhook/alertmanager",
    }
    tracer = provider.get_tracer("aiops")
    with tracer.start_as_current_span(
        "POST /webhook/alertmanager", parent, SpanKind.SERVER, attributes
    ) as span:
        span.set_attribute("http.response.status_code", 200)
    (finished,) = memory.get_finished_spans()
    return finished


@pytest.mark.parametrize("sender", [{}, {"traceparent": SAMPLED, "tracestate": STATE}])
def test_a_request_record_goes_out_as_the_sdks_server_span_would(sender: dict[str, str]) -> None:
    """Ingest's request span: a root (the request carried no context) or the sender's child."""
    resource, scope = Resource.create({"service.name": "aiops-ingest"}), InstrumentationScope("aiops")
    theirs = message(sdk_request_span(resource, sender))
    trace_id = int.from_bytes(theirs.trace_id, "big")
    parent = sender.get("traceparent") or root_parent(trace_id, "03")  # sampled, random trace id
    state = normal_tracestate(sender.get("tracestate"))
    attributes: dict[str, AttributeValue] = {
        "http.request.method": "POST",
        "http.route": "/webhook/alertmanager",
    }
    ended: list[StageSpan] = []
    ours = StageSpan(
        "POST /webhook/alertmanager", parent, state, attributes, resource, scope, ended.append, SERVER
    )
    ours.set_attribute("http.response.status_code", 200)
    ours.end()

    sent = assert_sent_as_the_sdks(ours, theirs)
    assert ours.is_root == (not sender)
    assert ours.traceparent == f"00-{trace_id:032x}-{sent.span_id.hex()}-{parent[-2:]}"


def test_an_exception_is_recorded_as_the_sdk_records_it() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    error = KeyError("no such route")
    try:
        raise error
    except KeyError:
        sdk = provider.get_tracer("aiops").start_span("request")
        sdk.record_exception(error)
        sdk.end()
    ours = StageSpan("request", SAMPLED, None, None, provider.resource, InstrumentationScope("aiops"), print)
    ours.record_exception(error)

    ((theirs,),) = [span.events for span in memory.get_finished_spans()]
    (recorded,) = ours.events
    assert (recorded.name, dict(recorded.attributes or {})) == (theirs.name, dict(theirs.attributes or {}))


def test_a_post_record_goes_out_as_the_sdks_client_span_would() -> None:
    """The notifier's post: the child of its stage's span, a parent in the same process."""
    resource, scope = Resource.create({"service.name": "aiops-notifier"}), InstrumentationScope("aiops")
    ended: list[StageSpan] = []
    stage = StageSpan("notifier", SAMPLED, normal_tracestate(STATE), None, resource, scope, ended.append)
    attributes: dict[str, AttributeValue] = {
        "http.request.method": "POST",
        "server.address": "hooks.example.com",
    }
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    parent = set_span_in_context(NonRecordingSpan(stage.get_span_context()))
    with provider.get_tracer("aiops").start_as_current_span(
        "POST", parent, SpanKind.CLIENT, attributes
    ) as span:
        span.set_attribute("http.response.status_code", 200)
    theirs = message(memory.get_finished_spans()[0])
    post = StageSpan(
        "POST", stage.traceparent, stage.tracestate, attributes, resource, scope, ended.append, CLIENT, False
    )
    post.set_attribute("http.response.status_code", 200)
    post.end()

    assert_sent_as_the_sdks(post, theirs)
