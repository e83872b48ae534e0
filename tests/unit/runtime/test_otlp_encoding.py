"""The spans' protobuf written directly is byte for byte what the OpenTelemetry SDK's encoder writes.

A stage's span is a record of ours (not the SDK's ``ReadableSpan``): it is compared with the SDK's
encoding of the same span in the SDK's form (``to_readable``).
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context
from opentelemetry.util.types import AttributeValue

from services.runtime._otlp import encode_ended, encode_request
from services.runtime._span import StageSpan, normal_tracestate

SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def spans_of_every_kind() -> list[ReadableSpan | StageSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "aiops-analyst", "pid": 7}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("aiops")
    scope = InstrumentationScope("aiops")
    ended: list[StageSpan] = []
    state = normal_tracestate("vendor=a,other=b")
    attributes: dict[str, AttributeValue] = {"messaging.message.id": "enricher:é1"}
    stage = StageSpan("analyst", SAMPLED, state, attributes, provider.resource, scope, ended.append)
    stage.set_status(StatusCode.ERROR, "ValueError: no rule matched ✗")
    stage.end()
    untouched = StageSpan("analyst", SAMPLED, None, None, provider.resource, scope, ended.append)
    untouched.end()
    mixed: dict[str, AttributeValue] = {
        "s": "x",
        "i": -3,
        "big": 2**40,
        "f": 0.25,
        "t": True,
        "no": False,
        "list": ["a", "b"],
    }
    root = tracer.start_span("POST /webhook/alertmanager", kind=SpanKind.SERVER, attributes=mixed)
    child = tracer.start_span("POST", set_span_in_context(root), SpanKind.CLIENT, {"server.address": "h"})
    child.add_event("retry", {"attempt": 2})  # events: left to the SDK's encoder
    child.set_status(StatusCode.OK)
    child.end()
    root.end()
    assert ended == [stage, untouched]
    return [*ended, *memory.get_finished_spans()]


def in_sdk_form(spans: list[ReadableSpan | StageSpan]) -> list[ReadableSpan]:
    return [span.to_readable() if isinstance(span, StageSpan) else span for span in spans]


def test_the_request_is_the_one_the_sdk_would_send() -> None:
    spans = spans_of_every_kind()

    body = encode_request(spans, {})

    assert body == encode_spans(in_sdk_form(spans)).SerializeToString()
    decoded = ExportTraceServiceRequest.FromString(body)
    names = [span.name for rs in decoded.resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert sorted(names) == sorted(["analyst", "analyst", "POST /webhook/alertmanager", "POST"])


def test_resource_and_scope_are_encoded_once_per_provider() -> None:
    spans = spans_of_every_kind()
    heads: dict[object, tuple[bytes, bytes, object]] = {}

    first, again = encode_request(spans, heads), encode_request(spans, heads)

    assert first == again
    # One resource and two scopes (the stage spans' has no version).
    assert len(heads) == 3


def test_stage_spans_encoded_as_they_end_make_the_same_request() -> None:
    spans = spans_of_every_kind()
    stage = next(span for span in spans if isinstance(span, StageSpan))
    queued = [encode_ended(span) if isinstance(span, StageSpan) else span for span in spans]
    assert all(isinstance(item, bytes) for item, span in zip(queued, spans, strict=True) if span is stage)

    body = encode_request(queued, {}, (stage.resource, stage.instrumentation_scope))

    assert body == encode_spans(in_sdk_form(spans)).SerializeToString()
