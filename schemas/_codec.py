"""JSON on the wire: one encoder, one cached decoder per message type."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


def encode(message: Any) -> bytes:
    return _encoder.encode(message)


@cache
def _decoder(message_type: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(message_type)


def decode(data: bytes | str, message_type: type[T]) -> T:
    """Decode and validate; raises ``msgspec.DecodeError`` / ``ValidationError``."""
    result: T = _decoder(message_type).decode(data)
    return result
