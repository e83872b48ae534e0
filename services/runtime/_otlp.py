"""OTLP/HTTP span export with the spans' protobuf written directly, for tracing's running cost.

The SDK's encoder builds a protobuf object per span, attribute and status, and hashes the
resource (a JSON dump of it) for every span to group them: about 60 µs a span, paid in the
exporter's thread but under the GIL, so by the services' own work. The spans we make have a
few scalar attributes and no events or links; their wire form is written here (about a fifth
of that), the stages' records (_span.py) straight from the hex ids their headers carry. The
resource and scope are encoded once, by the SDK itself, and a span this module does not
cover (events, links, a mapping attribute) is encoded by the SDK too, so the request is the
one the SDK would send. The HTTP side (endpoint, headers, timeout, retries,
compression, all from ``OTEL_*``) stays the SDK exporter's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext
from opentelemetry.trace.status import StatusCode

from services.runtime._span import UNSET_STATUS, StageSpan

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace.status import Status

_SMALL = [bytes((i,)) for i in range(128)]
_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano 7 and end_time_unix_nano 8, fixed64
_DOUBLE = struct.Struct("<d").pack
# flags 16 (fixed32): SpanFlags "has is_remote" (0x100), and "is remote" (0x200) for a remote parent.
_LOCAL_PARENT, _REMOTE_PARENT = b"\x85\x01\x00\x01\x00\x00", b"\x85\x01\x00\x03\x00\x00"
_UNSET_STATUS = b"\x7a\x00"
_VALUE = [b"\x12" + _SMALL[size] + b"\x0a" for size in range(128)]  # KeyValue.value: AnyValue, a string
_CODES = {StatusCode.UNSET: b"", StatusCode.OK: b"\x18\x01", StatusCode.ERROR: b"\x18\x02"}
# Encoded once each: a span's name with its kind, an attribute's key (a few distinct ones).
_names: dict[tuple[str, int], bytes] = {}
_keys: dict[str, bytes] = {}


def _varint(value: int) -> bytes:
    if value < 128:
        return _SMALL[value] if value >= 0 else _varint(value + (1 << 64))
    if value < 16384:  # a span's length, most often
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    size = len(payload)
    return tag + (_SMALL[size] if size < 128 else _varint(size)) + payload


class Unsupported(Exception):
    """A value this encoder leaves to the SDK's."""


def _any_value(value: Any) -> bytes:
    # AnyValue: string 1, bool 2, int 3, double 4, array 5 (ArrayValue: repeated AnyValue 1).
    if type(value) is str:  # the stages' attribute: the message id
        encoded = value.encode()
        size = len(encoded)
        return b"\x0a" + (_SMALL[size] if size < 128 else _varint(size)) + encoded
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(item)) for item in value))
    raise Unsupported(type(value).__name__)


def _attributes(tag: bytes, attributes: Any) -> bytes:
    # KeyValue: key 1, value 2.
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        encoded_key = _keys.get(key)
        if encoded_key is None:
            encoded_key = _keys[key] = _field(b"\x0a", key.encode())
        if type(value) is str and len(value) < 40:
            # A short string (the stages' message id): every length fits one byte, written at once.
            text = value.encode()
            size = len(text)
            pair = len(encoded_key) + size + 4
            if size < 120 and pair < 128:
                out.append(tag + _SMALL[pair] + encoded_key + _VALUE[size + 2] + _SMALL[size] + text)
                continue
        out.append(_field(tag, encoded_key + _field(b"\x12", _any_value(value))))
    return b"".join(out)


def _name(name: str, kind: int) -> bytes:
    # name 5 and kind 6 (the API's SpanKind counts from 0, OTLP's from 1 with 0 unspecified).
    encoded = _names.get((name, kind))
    if encoded is None:
        encoded = _names[name, kind] = _field(b"\x2a", name.encode()) + b"\x30" + _SMALL[kind + 1]
    return encoded


def _status(status: Status) -> bytes:
    # Status 15: message 2, code 3 (an enum's .value is slow to read: the code's bytes are looked up).
    if status is UNSET_STATUS or (status.description is None and status.status_code is StatusCode.UNSET):
        return _UNSET_STATUS
    message = _field(b"\x12", status.description.encode()) if status.description else b""
    return _field(b"\x7a", message + _CODES[status.status_code])


def encode_span(span: ReadableSpan) -> bytes:
    """One ``Span`` message, field for field what the SDK's encoder writes."""
    if span.events or span.links:
        raise Unsupported("events or links")
    context = span.context
    parent = span.parent
    out = [b"\x0a\x10", context.trace_id.to_bytes(16, "big"), b"\x12\x08", context.span_id.to_bytes(8, "big")]
    if context.trace_state:
        out.append(_field(b"\x1a", context.trace_state.to_header().encode()))
    if parent is not None:
        out += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    out += (
        _name(span.name, span.kind.value),
        _TIMES(0x39, span.start_time or 0, 0x41, span.end_time or 0),
        _attributes(b"\x4a", span.attributes),
    )
    for tag, count in ((b"\x50", span.dropped_attributes), (b"\x60", span.dropped_events)):
        if count:
            out += (tag, _varint(count))
    if span.dropped_links:
        out += (b"\x70", _varint(span.dropped_links))
    out.append(_status(span.status))
    out.append(_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT)
    return b"".join(out)


def encode_stage_span(span: StageSpan) -> bytes:
    """A stage's record as ``encode_span`` writes its ``to_readable()``, read from the headers' hex."""
    if span.events:
        raise Unsupported("events")
    parent = span.parent  # "00-<trace id>-<parent id>-<flags>"
    state = _field(b"\x1a", span.tracestate.encode()) if span.tracestate else b""
    root = span.is_root  # ingest's request span, when the request carried no traceparent
    return b"".join(
        (
            b"\x0a\x10",
            bytes.fromhex(parent[3:35]),
            b"\x12\x08",
            span.span_id.to_bytes(8, "big"),
            state,
            b"" if root else b"\x22\x08" + bytes.fromhex(parent[36:52]),
            _name(span.name, span.kind),
            _TIMES(0x39, span.start_time, 0x41, span.end_time or 0),
            _attributes(b"\x4a", span.attributes),
            _status(span.status),
            _REMOTE_PARENT if span.remote and not root else _LOCAL_PARENT,
        )
    )


def _sdk_encoded(span: ReadableSpan | StageSpan) -> bytes:
    if isinstance(span, StageSpan):
        span = span.to_readable()
    encoded: bytes = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    return encoded


def _optional(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode()) if text else b""


def encode_ended(span: StageSpan) -> bytes | StageSpan:
    """What the export queue keeps of an ended stage span: its ``Span`` message, or the record
    itself when it has events (for the SDK's encoder).

    Encoded when it ends rather than when exported: bytes hold no references, so the spans
    waiting in the queue give the garbage collector nothing to scan (records waiting there
    survive to its oldest generation and bring on its full collections, a few µs a span).
    """
    try:
        return encode_stage_span(span)
    except Unsupported:
        return span


def encode_request(
    spans: Sequence[ReadableSpan | StageSpan | bytes],
    heads: dict[Any, tuple[bytes, bytes, Any]],
    stage_parts: tuple[Resource, InstrumentationScope] | None = None,
) -> bytes:
    """An ``ExportTraceServiceRequest``: spans grouped by resource, then scope, as the SDK groups them.

    A ``bytes`` item is a stage span ``encode_ended`` wrote, under ``stage_parts``' resource
    and scope. ``heads`` caches each resource's and scope's encoded form and schema URL. A resource is
    keyed by identity (hashing one dumps it to JSON; a provider keeps its one resource for its
    lifetime, and the cache holds it, so the id is never reused), a scope by its value, as the
    SDK compares them.
    """
    groups: dict[int, dict[Any, list[bytes]]] = {}
    # A batch's spans mostly share one resource and scope: its group is looked up (and the scope,
    # whose hash is a tuple's, hashed) only when they change from one span to the next.
    last: tuple[Any, Any] = (None, None)
    group: list[bytes] = []
    for span in spans:
        if type(span) is bytes:
            body = span
            assert stage_parts is not None, "stage spans queued as bytes without their resource"
            resource, scope = stage_parts
        else:
            try:
                body = encode_stage_span(span) if type(span) is StageSpan else encode_span(span)  # type: ignore[arg-type]
            except Unsupported:
                body = _sdk_encoded(span)  # type: ignore[arg-type]
            resource, scope = span.resource, span.instrumentation_scope  # type: ignore[union-attr, assignment]
        if resource is not last[0] or scope is not last[1]:
            last = (resource, scope)
            group = _group(resource, scope, heads, groups)
        group.append(b"\x12" + _varint(len(body)) + body)
    request = []
    for resource_id, scopes in groups.items():
        scope_spans = b"".join(
            _field(b"\x12", heads[scope_key][0] + b"".join(encoded) + heads[scope_key][1])
            for scope_key, encoded in scopes.items()
        )
        request.append(_field(b"\x0a", heads[resource_id][0] + scope_spans + heads[resource_id][1]))
    return b"".join(request)


def _group(
    parts: Resource,
    scope: InstrumentationScope,
    heads: dict[Any, tuple[bytes, bytes, Any]],
    groups: dict[int, dict[Any, list[bytes]]],
) -> list[bytes]:
    """The list of encoded spans of a resource and scope, which are encoded into ``heads`` if new."""
    resource = id(parts)
    if resource not in heads or scope not in heads:
        # The SDK's own encoding of them (of a span that has them), once. ResourceSpans:
        # resource 1, scope_spans 2, schema_url 3; ScopeSpans: scope 1, spans 2, schema_url 3.
        sample = ReadableSpan("", SpanContext(1, 1, False), resource=parts, instrumentation_scope=scope)
        encoded = encode_spans([sample]).resource_spans[0]
        scope_spans = encoded.scope_spans[0]
        heads[resource] = (
            _field(b"\x0a", encoded.resource.SerializeToString()),
            _optional(b"\x1a", encoded.schema_url),
            parts,
        )
        heads[scope] = (
            _field(b"\x0a", scope_spans.scope.SerializeToString()),
            _optional(b"\x1a", scope_spans.schema_url),
            scope,
        )
    return groups.setdefault(resource, {}).setdefault(scope, [])


class DirectOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter, posting bodies from ``encode_request``.

    It posts through the exporter's HTTP client (an SDK-private attribute, there since 1.40);
    on an SDK without one it is the SDK's exporter unchanged.
    """

    def __init__(self, stage_parts: tuple[Resource, InstrumentationScope] | None = None) -> None:
        """``stage_parts``: the resource and scope of the stage spans queued as bytes."""
        super().__init__()
        self._heads: dict[Any, tuple[bytes, bytes, Any]] = {}
        self.stage_parts = stage_parts
        self.direct = callable(getattr(getattr(self, "_client", None), "export", None))

    def export(self, spans: Sequence[ReadableSpan | StageSpan | bytes]) -> SpanExportResult:
        if not self.direct:  # then stage spans are queued as records (never as bytes)
            return super().export([s.to_readable() if isinstance(s, StageSpan) else s for s in spans])  # type: ignore[misc]
        if getattr(self, "_shutdown", False):
            return SpanExportResult.FAILURE
        result = self._client.export(encode_request(spans, self._heads, self.stage_parts))
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE
