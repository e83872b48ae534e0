"""Loki's query API, locally, over a list of log entries.

``GET /loki/api/v1/query_range`` answers with Loki's response shape (``data.resultType =
"streams"``, ``result[].stream`` and ``result[].values`` of ``[nanosecond string, line]``),
honours ``start``/``end``/``limit``/``direction``, ``=`` and ``=~`` stream matchers (regexes
fully anchored, as Loki's are) and one ``|~`` / ``|=`` line filter. ``GET /loki/api/v1/series``
answers the label sets of the streams any ``match[]`` selects in ``start``..``end``, ``GET
/loki/api/v1/labels`` the label names and ``GET /loki/api/v1/label/<name>/values`` the values;
``GET /ready`` answers ``ready`` as Loki's readiness probe does.
Scripted failures answer as Loki does: 400 ``parse error ...`` (text), 429 ``too many outstanding
requests``, 500, or no answer at all (a timeout).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Literal, Self

from aiohttp import web

from tests.support.nats_server import free_port

Failure = Literal["bad_query", "rate_limited", "server_error", "timeout"]

# Up to the brace that closes the selector: quoted values may hold braces (pod=~"x-[a-z]{5}").
_SELECTOR = re.compile(r'^\{(?P<matchers>(?:[^}"]|"(?:[^"\\]|\\.)*")*)\}\s*(?P<pipeline>.*)$', re.DOTALL)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
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
    path: str = "/loki/api/v1/query_range"
    matches: list[str] = field(default_factory=list)


class LokiParseError(ValueError):
    pass


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


@dataclass(frozen=True)
class Selector:
    """A stream selector: ``=`` matchers compare, ``=~`` ones fully match a regex."""

    equal: dict[str, str]
    regex: dict[str, re.Pattern[str]]

    def selects(self, stream: dict[str, str]) -> bool:
        return all(stream.get(name) == value for name, value in self.equal.items()) and all(
            name in stream and pattern.fullmatch(stream[name]) for name, pattern in self.regex.items()
        )


def parse_selector(text: str) -> Selector:
    equal: dict[str, str] = {}
    regex: dict[str, re.Pattern[str]] = {}
    position = 0
    while position < len(text):
        matcher = _MATCHER.match(text, position)
        if not matcher:
            raise LokiParseError(
                f"parse error at line 1, col {position + 2}: syntax error: unexpected character"
            )
        name, op, value = matcher.group(1), matcher.group(2), _unescape(matcher.group(3))
        if op == "=~":
            try:
                regex[name] = re.compile(value)
            except re.error as exc:
                raise LokiParseError(f"parse error : error parsing regexp: {exc}") from exc
        else:
            equal[name] = value
        position = matcher.end()
    # Loki refuses a selector that would select every stream.
    if not any(equal.values()) and not any(not p.fullmatch("") for p in regex.values()):
        raise LokiParseError(
            "parse error : queries require at least one regexp or equality matcher that does not have an "
            'empty-compatible value. For instance, app=~".*" does not meet this requirement, but '
            'app=~".+" will meet this requirement.'
        )
    return Selector(equal, regex)


def parse_query(query: str) -> tuple[Selector, re.Pattern[str] | None]:
    """The stream selector and the line filter; LokiParseError for anything else."""
    found = _SELECTOR.match(query.strip())
    if not found:
        raise LokiParseError("parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {")
    selector = parse_selector(found.group("matchers"))
    pipeline = found.group("pipeline").strip()
    if not pipeline:
        return selector, None
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
    return selector, re.compile(pattern)


@dataclass
class FakeLoki:
    lines: list[LogLine] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, *failures: Failure) -> None:
        """The next requests, to any endpoint, fail in this order; later ones are answered normally."""
        self.failures.extend(failures)

    def queries(self, path: str = "/loki/api/v1/query_range") -> list[Request]:
        return [request for request in self.requests if request.path == path]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/loki/api/v1/query_range", self._query_range)
        app.router.add_get("/loki/api/v1/series", self._series)
        app.router.add_get("/loki/api/v1/labels", self._labels)
        app.router.add_get("/loki/api/v1/label/{name}/values", self._label_values)
        app.router.add_get("/ready", self._ready)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        port = free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _scripted(self, request: web.Request) -> web.Response | None:
        """Record the request; the scripted failure's answer if one is due."""
        params = {key: value for key, value in request.query.items() if key != "match[]"}
        self.requests.append(
            Request(params, dict(request.headers), request.path, request.query.getall("match[]", []))
        )
        if not self.failures:
            return None
        failure = self.failures.pop(0)
        if failure == "timeout":
            await self._never.wait()
            return web.Response(status=504, text="gateway timeout")
        if failure == "rate_limited":
            return web.Response(status=429, text="too many outstanding requests")
        if failure == "server_error":
            return web.Response(status=500, text="rpc error: code = Unavailable desc = ingester unavailable")
        return web.Response(status=400, text="parse error at line 1, col 7: syntax error: unexpected $end")

    async def _ready(self, request: web.Request) -> web.StreamResponse:
        """Loki's readiness probe: 200 ``ready`` (or a scripted failure)."""
        scripted = await self._scripted(request)
        return scripted if scripted is not None else web.Response(text="ready\n")

    def _in_range(self, request: web.Request) -> list[LogLine]:
        start = int(request.query.get("start", "0")) / 1e9
        end = int(request.query.get("end", str(2**62))) / 1e9
        return [entry for entry in self.lines if start <= entry.seconds < end]

    async def _query_range(self, request: web.Request) -> web.StreamResponse:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        try:
            selector, line_filter = parse_query(request.query.get("query", ""))
        except LokiParseError as exc:
            return web.Response(status=400, text=str(exc))
        limit = int(request.query.get("limit", "100"))
        backward = request.query.get("direction", "backward") == "backward"
        chosen = [
            entry
            for entry in self._in_range(request)
            if selector.selects(entry.stream) and (line_filter is None or line_filter.search(entry.line))
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

    async def _series(self, request: web.Request) -> web.StreamResponse:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        texts = request.query.getall("match[]", [])
        if not texts:
            return web.Response(status=400, text="at least one match[] argument must be provided")
        try:
            selectors = [parse_query(text)[0] for text in texts]
        except LokiParseError as exc:
            return web.Response(status=400, text=str(exc))
        found = {
            tuple(sorted(entry.stream.items()))
            for entry in self._in_range(request)
            if any(selector.selects(entry.stream) for selector in selectors)
        }
        return web.json_response({"status": "success", "data": [dict(key) for key in sorted(found)]})

    async def _labels(self, request: web.Request) -> web.StreamResponse:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        names = sorted({name for entry in self._in_range(request) for name in entry.stream})
        return web.json_response({"status": "success", "data": names})

    async def _label_values(self, request: web.Request) -> web.StreamResponse:
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        name = request.match_info["name"]
        values = sorted({entry.stream[name] for entry in self._in_range(request) if name in entry.stream})
        return web.json_response({"status": "success", "data": values})
