"""JSON on the wire: one encoder, one cached decoder per message type."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


def encode(message: Any) -> bytes:
    return _encoder.encode(message)


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _decoder(message_type: type[Any]) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(message_type)
    if decoder is None:
        decoder = _decoders[message_type] = msgspec.json.Decoder(message_type)
    return decoder


def decode(data: bytes | str, message_type: type[T]) -> T:
    """Decode and validate; raises ``msgspec.DecodeError`` / ``ValidationError``."""
    result: T = _decoder(message_type).decode(data)
    return result
