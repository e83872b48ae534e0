"""The header fast paths write and read exactly what nats-py would, on generated input."""

from __future__ import annotations

import random
from importlib.metadata import version
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import BadHeaderError
from nats.js.api import Header

from services.runtime._nats_client import COMPARED_WITH, FAST_PATH, Client, read_header_lines

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Bytes where nats-py's rules bite: separators, whitespace bytes.strip() and str.strip() disagree on,
# UTF-8 and bytes that are not.
PIECES = [
    b"a",
    b"B",
    b":",
    b" ",
    b"\t",
    b"\r\n",
    b"\r",
    b"-",
    b"\x0b",
    b"\x1c",
    b"\x85",
    b"\xa0",
    b"\xc3\xa9",
    b"\xff",
]


def test_a_block_reads_as_nats_py_reads_it() -> None:
    pieces = random.Random(7)
    blocks = [
        f"Nats-Msg-Id: enricher:abc\r\ntraceparent: {TRACEPARENT}\r\n\r\n".encode(),
        b"Name:Value\r\nName2:\tspaced \r\n",  # no space after the colon, a tab
        b"caf\xc3\xa9: x\r\nk: caf\xc3\xa9 \xff\r\n",  # a key not ASCII (skipped), a value not UTF-8
        b"with space: x\r\n: empty key\r\nno colon\r\n\x1c: sep\r\n",
    ]
    blocks += [b"".join(pieces.choice(PIECES) for _ in range(pieces.randint(0, 16))) for _ in range(50_000)]
    for raw in blocks:
        assert read_header_lines(raw) == NatsClient._parse_header_lines(raw), raw


class _Wire:
    """A client that is never connected: what it would send is kept."""

    def __init__(self, kind: type[NatsClient]) -> None:
        self.client = kind()
        self.sent: list[bytes] = []

        async def send(cmd: bytes, priority: bool = False) -> None:
            self.sent.append(cmd)

        self.client._send_command = send  # type: ignore[method-assign]

    async def publish(self, headers: Any) -> bytes | str:
        try:
            await self.client._send_publish("alerts.raw", "_INBOX.r.1", b"{}", 2, headers)
        except Exception as exc:  # the same error from both is part of "the same"
            return f"{type(exc).__name__}: {exc}"
        return self.sent.pop()


def test_the_fast_path_runs_on_the_release_it_was_compared_with() -> None:
    installed = version("nats-py")
    if not installed.startswith(COMPARED_WITH):
        pytest.skip(f"nats-py {installed}: its own header code runs (compared with {COMPARED_WITH}x)")
    assert FAST_PATH
    assert Client._send_publish is not NatsClient._send_publish


def _headers(pick: random.Random) -> dict[str, Any]:
    # nats-py's own Header enum too: its key API and publish options write headers with it.
    keys: list[Any] = ["Nats-Msg-Id", "traceparent", "tracestate", " padded ", "bad key", "", "X-\u00e9", "k"]
    keys += [Header.MSG_ID, Header.EXPECTED_LAST_SUBJECT_SEQUENCE]
    values: list[Any] = ["id-1", TRACEPARENT, " spaced ", "line\r\nbreak", "caf\u00e9", "", "\n", 5]
    return {pick.choice(keys): pick.choice(values) for _ in range(pick.randint(0, 4))}


async def test_a_publish_writes_what_nats_py_writes() -> None:
    ours, theirs = _Wire(Client), _Wire(NatsClient)
    pick = random.Random(11)
    cases = [{"Nats-Msg-Id": "ingest:1", "traceparent": TRACEPARENT}, {}, None]
    cases += [_headers(pick) for _ in range(3_000)]
    for headers in cases:
        # Twice: the second time every valid key is one the fast path already knows.
        for _ in range(2):
            assert await ours.publish(headers) == await theirs.publish(headers), headers
    assert ours.client.stats["out_msgs"] == theirs.client.stats["out_msgs"] > 0


async def test_an_invalid_key_is_refused_as_nats_py_refuses_it() -> None:
    with pytest.raises(BadHeaderError):
        await Client()._send_publish("alerts.raw", "", b"", 0, {"bad key": "x"})
