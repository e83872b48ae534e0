"""OTLP/HTTP span export with the spans' protobuf written directly, for tracing's running cost.

The SDK's encoder builds a protobuf object per span, attribute and status, and hashes the
resource (a JSON dump of it) for every span to group them: about 60 µs a span, paid in the
exporter's thread but under the GIL, so by the services' own work. The spans we make have a
few scalar attributes and no events or links; their wire form is written here (about a fifth
of that). The resource and scope are encoded once, by the SDK itself, and a span this module
does not cover (events, links, a mapping attribute) is encoded by the SDK too, so the request
is the one the SDK would send. The HTTP side (endpoint, headers, timeout, retries,
compression, all from ``OTEL_*``) stays the SDK exporter's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_SMALL = [bytes((i,)) for i in range(128)]
_TIMES = struct.Struct("<BQBQ").pack  # start_time_unix_nano 7 and end_time_unix_nano 8, fixed64
_DOUBLE = struct.Struct("<d").pack
# flags 16 (fixed32): SpanFlags "has is_remote" (0x100), and "is remote" (0x200) for a remote parent.
_LOCAL_PARENT, _REMOTE_PARENT = b"\x85\x01\x00\x01\x00\x00", b"\x85\x01\x00\x03\x00\x00"
_UNSET_STATUS = b"\x7a\x00"
# Encoded once each: a span's name with its kind, an attribute's key (a few distinct ones).
_names: dict[tuple[str, int], bytes] = {}
_keys: dict[str, bytes] = {}


def _varint(value: int) -> bytes:
    if value < 128:
        return _SMALL[value] if value >= 0 else _varint(value + (1 << 64))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


class Unsupported(Exception):
    """A value this encoder leaves to the SDK's."""


def _any_value(value: Any) -> bytes:
    # AnyValue: string 1, bool 2, int 3, double 4, array 5 (ArrayValue: repeated AnyValue 1).
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
        out.append(_field(tag, encoded_key + _field(b"\x12", _any_value(value))))
    return b"".join(out)


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
    named = (span.name, span.kind.value)
    name = _names.get(named)
    if name is None:
        name = _names[named] = _field(b"\x2a", named[0].encode()) + b"\x30" + _SMALL[named[1] + 1]
    out += (
        name,
        _TIMES(0x39, span.start_time or 0, 0x41, span.end_time or 0),
        _attributes(b"\x4a", span.attributes),
    )
    for tag, count in ((b"\x50", span.dropped_attributes), (b"\x60", span.dropped_events)):
        if count:
            out += (tag, _varint(count))
    if span.dropped_links:
        out += (b"\x70", _varint(span.dropped_links))
    status = span.status
    if status.description or status.status_code.value:
        message = _field(b"\x12", status.description.encode()) if status.description else b""
        code = b"\x18" + _SMALL[status.status_code.value] if status.status_code.value else b""
        out.append(_field(b"\x7a", message + code))
    else:
        out.append(_UNSET_STATUS)
    out.append(_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT)
    return b"".join(out)


def _sdk_encoded(span: ReadableSpan) -> bytes:
    encoded: bytes = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    return encoded


def _optional(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode()) if text else b""


def encode_request(spans: Sequence[ReadableSpan], heads: dict[Any, tuple[bytes, bytes, Any]]) -> bytes:
    """An ``ExportTraceServiceRequest``: spans grouped by resource, then scope, as the SDK groups them.

    ``heads`` caches each resource's and scope's encoded form and schema URL. A resource is
    keyed by identity (hashing one dumps it to JSON; a provider keeps its one resource for its
    lifetime, and the cache holds it, so the id is never reused), a scope by its value, as the
    SDK compares them.
    """
    groups: dict[int, dict[Any, list[bytes]]] = {}
    for span in spans:
        resource, scope = id(span.resource), span.instrumentation_scope
        if resource not in heads or scope not in heads:
            # The SDK's own encoding of them, once. ResourceSpans: resource 1, scope_spans 2,
            # schema_url 3; ScopeSpans: scope 1, spans 2, schema_url 3.
            encoded = encode_spans([span]).resource_spans[0]
            scope_spans = encoded.scope_spans[0]
            heads[resource] = (
                _field(b"\x0a", encoded.resource.SerializeToString()),
                _optional(b"\x1a", encoded.schema_url),
                span.resource,
            )
            heads[scope] = (
                _field(b"\x0a", scope_spans.scope.SerializeToString()),
                _optional(b"\x1a", scope_spans.schema_url),
                scope,
            )
        try:
            body = encode_span(span)
        except Unsupported:
            body = _sdk_encoded(span)
        groups.setdefault(resource, {}).setdefault(scope, []).append(_field(b"\x12", body))
    request = []
    for resource, scopes in groups.items():
        scope_spans = b"".join(
            _field(b"\x12", heads[scope][0] + b"".join(encoded) + heads[scope][1])
            for scope, encoded in scopes.items()
        )
        request.append(_field(b"\x0a", heads[resource][0] + scope_spans + heads[resource][1]))
    return b"".join(request)


class DirectOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter, posting bodies from ``encode_request``.

    It posts through the exporter's HTTP client (an SDK-private attribute, there since 1.40);
    on an SDK without one it is the SDK's exporter unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._heads: dict[Any, tuple[bytes, bytes, Any]] = {}
        self.direct = callable(getattr(getattr(self, "_client", None), "export", None))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.direct:
            return super().export(spans)
        if getattr(self, "_shutdown", False):
            return SpanExportResult.FAILURE
        result = self._client.export(encode_request(spans, self._heads))
        return SpanExportResult.SUCCESS if result.success else SpanExportResult.FAILURE
