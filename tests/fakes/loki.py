"""Loki's query API, locally: ``GET /loki/api/v1/query_range`` over a list of log entries.

It answers with Loki's response shape (``data.resultType = "streams"``, ``result[].stream``
and ``result[].values`` of ``[nanosecond string, line]``), honours ``start``/``end``/``limit``/
``direction``, exact stream matchers and one ``|~`` / ``|=`` line filter. Scripted failures
answer as Loki does: 400 ``parse error ...`` (text), 429 ``too many outstanding requests``,
500, or no answer at all (a timeout).
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass, field
from typing import Literal, Self

from aiohttp import web

Failure = Literal["bad_query", "rate_limited", "server_error", "timeout"]

_SELECTOR = re.compile(r"^\{(?P<matchers>[^}]*)\}\s*(?P<pipeline>.*)$", re.DOTALL)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_FILTER = re.compile(r'^\|(?P<op>~|=)\s*(?:`(?P<raw>[^`]*)`|"(?P<quoted>(?:[^"\\]|\\.)*)")\s*$')


@dataclass(frozen=True)
class LogLine:
    stream: dict[str, str]
    seconds: float
    line: str


@dataclass
class Request:
    params: dict[str, str]
    headers: dict[str, str]


class LokiParseError(ValueError):
    pass


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_query(query: str) -> tuple[dict[str, str], re.Pattern[str] | None]:
    """The exact matchers and the line filter; LokiParseError for anything else."""
    found = _SELECTOR.match(query.strip())
    if not found:
        raise LokiParseError("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {")
    matchers: dict[str, str] = {}
    text = found.group("matchers")
    position = 0
    while position < len(text):
        matcher = _MATCHER.match(text, position)
        if not matcher:
            raise LokiParseError(
                f"parse error at line 1, col {position + 2}: syntax error: unexpected character"
            )
        matchers[matcher.group(1)] = _unescape(matcher.group(2))
        position = matcher.end()
    if not matchers:
        raise LokiParseError("parse error : queries require at least one regexp or equality matcher")
    pipeline = found.group("pipeline").strip()
    if not pipeline:
        return matchers, None
    line_filter = _FILTER.match(pipeline)
    if not line_filter:
        raise LokiParseError("parse error at line 1: syntax error: unexpected pipeline stage")
    pattern = (
        line_filter.group("raw")
        if line_filter.group("raw") is not None
        else _unescape(line_filter.group("quoted"))
    )
    if line_filter.group("op") == "=":
        pattern = re.escape(pattern)
    return matchers, re.compile(pattern)


@dataclass
class FakeLoki:
    lines: list[LogLine] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, *failures: Failure) -> None:
        """The next requests fail in this order; later ones are answered normally."""
        self.failures.extend(failures)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/loki/api/v1/query_range", self._query_range)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _query_range(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Request(dict(request.query), dict(request.headers)))
        if self.failures:
            failure = self.failures.pop(0)
            if failure == "timeout":
                await self._never.wait()
                return web.Response(status=504, text="gateway timeout")
            if failure == "rate_limited":
                return web.Response(status=429, text="too many outstanding requests")
            if failure == "server_error":
                return web.Response(
                    status=500, text="rpc error: code = Unavailable desc = ingester unavailable"
                )
            return web.Response(
                status=400, text="parse error at line 1, col 7: syntax error: unexpected $end"
            )
        try:
            matchers, line_filter = parse_query(request.query.get("query", ""))
        except LokiParseError as exc:
            return web.Response(status=400, text=str(exc))
        start = int(request.query.get("start", "0")) / 1e9
        end = int(request.query.get("end", str(2**62))) / 1e9
        limit = int(request.query.get("limit", "100"))
        backward = request.query.get("direction", "backward") == "backward"
        chosen = [
            entry
            for entry in self.lines
            if start <= entry.seconds < end
            and all(entry.stream.get(name) == value for name, value in matchers.items())
            and (line_filter is None or line_filter.search(entry.line))
        ]
        chosen.sort(key=lambda entry: entry.seconds, reverse=backward)
        chosen = chosen[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for entry in chosen:
            key = tuple(sorted(entry.stream.items()))
            streams.setdefault(key, []).append([str(int(entry.seconds * 1e9)), entry.line])
        result = [{"stream": dict(key), "values": values} for key, values in streams.items()]
        body = {"status": "success", "data": {"resultType": "streams", "result": result, "stats": {}}}
        return web.json_response(body)
