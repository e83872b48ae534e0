"""nats-py's client, with message headers written and read in fewer steps.

Every message of the pipeline carries headers (``Nats-Msg-Id``; ``traceparent`` too when tracing is
on). nats-py 2.16 writes each header line with a regex check of its key, a strip and a translate of its
value and five ``bytearray`` extends, and reads each with a generator over its key's characters: about
5 µs to write and 2.5-4.5 µs to read those two lines, at every hop, which was most of what carrying a
trace context cost a flooded stage (docs/benchmarks.md, "Tracing"). Here a key is checked once per
process (a pipeline has a handful of keys), a value translated only when it holds a line break and the
block joined in one step (about 1 µs); a block is read by the same rules with a key's whitespace
checked in one call (about 2 µs).

What goes over the wire and what a message's ``headers`` hold are nats-py's own, byte for byte:
tests/unit/runtime/test_nats_client.py compares the two on generated input, for the nats-py release
named in COMPARED_WITH. Anything this does not cover (a key not seen valid before or not a plain
string, a value that is not a string, another nats-py release) is left to nats-py's own code.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.protocol.command import hpub_cmd

# RFC 7230's token, the keys nats-py accepts.
_KEY = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})
_MAX_KEYS_REMEMBERED = 256  # a bound on what a caller choosing keys per message could make us keep


# Keys already checked valid (nats-py checks each key of each message).
_valid_keys: set[str] = set()


def header_block(headers: Mapping[str, Any]) -> bytes | None:
    """The ``NATS/1.0`` block nats-py would write; None when nats-py's own path should decide
    (a key not known valid yet and not simple, a value that is not a string)."""
    lines = []
    for key, value in headers.items():
        # A str subclass (nats-py's own Header enum) formats as its member's name, not its value.
        if type(key) is not str:
            return None
        if key not in _valid_keys:
            if key != key.strip() or not _KEY.fullmatch(key) or len(_valid_keys) >= _MAX_KEYS_REMEMBERED:
                return None
            _valid_keys.add(key)
        if type(value) is not str:
            return None
        value = value.strip()
        if "\r" in value or "\n" in value:
            value = value.translate(_LINE_BREAKS)
        lines.append(f"{key}: {value}\r\n")
    return f"NATS/1.0\r\n{''.join(lines)}\r\n".encode()


def read_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines as nats-py reads them: lines without a colon, keys that are not ASCII or
    hold whitespace are skipped; values are stripped, decoded with invalid UTF-8 replaced."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name.isascii():
            continue
        key = name.strip().decode()
        # str.split() splits on what str.isspace() calls whitespace: one part, the key, means none.
        if key and key.split() != [key]:
            continue
        out[key] = value.strip().decode("utf-8", "replace")
    return out


# The nats-py whose header rules the tests compared these with; with another, nats-py's own code runs
# (a release may change its rules without changing a signature).
COMPARED_WITH = "2.16."
_PUBLISH_ARGUMENTS = ["self", "subject", "reply", "payload", "payload_size", "headers"]
FAST_PATH = (
    version("nats-py").startswith(COMPARED_WITH)
    and list(inspect.signature(NatsClient._send_publish).parameters) == _PUBLISH_ARGUMENTS
    and all(hasattr(NatsClient, name) for name in ("_send_command", "_flush_pending", "_parse_header_lines"))
)


class Client(NatsClient):
    """``nats.aio.client.Client`` with the header fast paths; everything else is nats-py's."""

    if FAST_PATH:

        @staticmethod
        def _parse_header_lines(raw: bytes) -> dict[str, str]:
            return read_header_lines(raw)

        async def _send_publish(
            self, subject: str, reply: str, payload: bytes, payload_size: int, headers: Any
        ) -> None:
            block = header_block(headers) if headers and subject else None
            if block is None:
                await super()._send_publish(subject, reply, payload, payload_size, headers)
                return
            # What nats-py does after writing its block.
            self.stats["out_msgs"] += 1
            self.stats["out_bytes"] += payload_size
            await self._send_command(hpub_cmd(subject, reply, block, payload))
            if self._flush_queue is not None and self._flush_queue.empty():
                await self._flush_pending()
