"""Elasticsearch's (and OpenSearch's) ``_search`` API, locally, over documents held in indices.

``GET|POST /{index}/_search`` and ``/_search`` with a JSON body: ``query`` in the subset of the query
DSL a log reader uses (``bool`` with ``filter``/``must``/``should``/``must_not`` and
``minimum_should_match``, ``range`` with ``gte``/``gt``/``lte``/``lt`` in ``epoch_millis`` or ISO dates,
``term``, ``match_phrase`` over standard-analyzer tokens, ``match_all``), ``sort`` (each hit's ``sort``
values: epoch milliseconds for a date field), ``size``, ``from``, ``_source`` filtering and
``track_total_hits``. The index part is a comma-separated list of names and wildcard patterns: a
pattern matching nothing is an empty answer, a missing name a 404 ``index_not_found_exception``.
Error bodies are Elasticsearch's: ``{"error": {"root_cause": [...], "type", "reason"}, "status"}``.

Basic auth or an API key (``Authorization: ApiKey <base64>``) is enforced when given (401
``security_exception`` otherwise). Scripted failures: 400 ``parsing_exception``, 401, 429
``es_rejected_execution_exception`` with ``Retry-After``, 503, or no answer at all (a timeout).
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, Self

import orjson
from aiohttp import web

from tests.support.nats_server import free_port

Failure = Literal["bad_query", "unauthorized", "rate_limited", "server_error", "timeout"]
Document = dict[str, Any]


class QueryError(ValueError):
    """A query the real server refuses with 400 ``parsing_exception``."""


def error_body(status: int, kind: str, reason: str, **extra: Any) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason, **extra}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def value_of(document: Mapping[str, Any], path: str) -> Any:
    """A field by dotted name, stored flat or nested, as Elasticsearch resolves it."""
    if path in document:
        return document[path]
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def millis(value: Any) -> float | None:
    """A date as epoch milliseconds: a number is one already, a string is ISO 8601."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            if value.isdigit():
                return float(value)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000
    return None


def tokens(text: str) -> list[str]:
    """The standard analyzer, closely enough: lower-cased runs of letters and digits."""
    return re.findall(r"[0-9a-z]+", text.lower())


def _contains(haystack: list[str], needle: list[str]) -> bool:
    return bool(needle) and any(
        haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1)
    )


def _single(clause: Any, name: str) -> tuple[str, Any]:
    if not isinstance(clause, dict) or len(clause) != 1:
        raise QueryError(f"[{name}] query malformed, no start_object after query name")
    return next(iter(clause.items()))


def matches(query: Any, document: Mapping[str, Any]) -> bool:
    name, body = _single(query, "query")
    if name == "match_all":
        return True
    if name == "bool":
        return _bool(body, document)
    if name == "term":
        field_name, expected = _single(body, "term")
        expected = expected.get("value") if isinstance(expected, dict) else expected
        found = value_of(document, field_name)
        return expected in found if isinstance(found, list) else found == expected
    if name == "match_phrase":
        field_name, phrase = _single(body, "match_phrase")
        phrase = phrase.get("query") if isinstance(phrase, dict) else phrase
        found = value_of(document, field_name)
        return found is not None and _contains(tokens(str(found)), tokens(str(phrase)))
    if name == "range":
        field_name, bounds = _single(body, "range")
        found = millis(value_of(document, field_name))
        if found is None or not isinstance(bounds, dict):
            return False
        checks = {"gte": found.__ge__, "gt": found.__gt__, "lte": found.__le__, "lt": found.__lt__}
        for op, value in bounds.items():
            if op in checks and not checks[op](millis(value) or 0.0):
                return False
        return True
    raise QueryError(f"unknown query [{name}]")


def _clauses(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    return value if isinstance(value, list) else [value]


def _bool(body: Any, document: Mapping[str, Any]) -> bool:
    if not isinstance(body, dict):
        raise QueryError("[bool] query malformed")
    unknown = set(body) - {"filter", "must", "should", "must_not", "minimum_should_match"}
    if unknown:
        raise QueryError(f"[bool] query does not support [{sorted(unknown)[0]}]")
    if not all(matches(clause, document) for key in ("filter", "must") for clause in _clauses(body, key)):
        return False
    if any(matches(clause, document) for clause in _clauses(body, "must_not")):
        return False
    should = _clauses(body, "should")
    # Only should clauses: at least one must match; beside filter/must they are optional.
    alone = not (_clauses(body, "filter") or _clauses(body, "must"))
    needed = int(body.get("minimum_should_match", 1 if alone else 0))
    return sum(matches(clause, document) for clause in should) >= min(needed, len(should))


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    # time.monotonic() on arrival: how long the client waited between attempts.
    at: float = 0.0


@dataclass
class FakeElasticsearch:
    indices: dict[str, list[Document]] = field(default_factory=dict)
    username: str = ""
    password: str = ""
    api_key: str = ""
    retry_after: str = "1"
    # Seconds every answer waits before it is sent: a slow cluster.
    delay: float = 0.0
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
        for path in ("/_search", "/{index}/_search"):
            app.router.add_get(path, self._search)
            app.router.add_post(path, self._search)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, header: str) -> bool:
        if self.api_key:
            return header == f"ApiKey {self.api_key}"
        if self.username:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return header == f"Basic {expected}"
        return True

    async def _scripted(self, request: web.Request) -> web.Response | None:
        failure = self.failures.pop(0) if self.failures else None
        if failure == "timeout":
            await self._never.wait()
            return web.Response(status=504, text="gateway timeout")
        if failure == "unauthorized" or not self._authorised(request.headers.get("Authorization", "")):
            reason = f"unable to authenticate user for REST request [{request.path}]"
            headers = {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8", ApiKey'}
            return _json(error_body(401, "security_exception", reason), 401, headers)
        if failure == "rate_limited":
            reason = "rejected execution of coordinating operation [search]"
            body = error_body(429, "es_rejected_execution_exception", reason)
            return _json(body, 429, {"Retry-After": self.retry_after})
        if failure == "server_error":
            body = error_body(503, "search_phase_execution_exception", "all shards failed")
            return _json(body, 503)
        if failure == "bad_query":
            return _json(error_body(400, "parsing_exception", "unknown query [nope]", line=1, col=20), 400)
        return None

    async def _search(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            return _json(error_body(400, "x_content_parse_exception", "Failed to parse object"), 400)
        self.requests.append(Request(request.path, dict(request.headers), body, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)  # the server being slow, not a test waiting
        scripted = await self._scripted(request)
        if scripted is not None:
            return scripted
        names, missing = self._resolve(request.match_info.get("index", "*"))
        if missing and request.query.get("ignore_unavailable") != "true":
            reason = f"no such index [{missing}]"
            return _json(error_body(404, "index_not_found_exception", reason, index=missing), 404)
        try:
            return _json(self._answer(names, body), 200)
        except QueryError as exc:
            return _json(error_body(400, "parsing_exception", str(exc)), 400)

    def _resolve(self, expression: str) -> tuple[list[str], str]:
        """The indices named, and the first concrete name that does not exist."""
        names: list[str] = []
        for part in expression.split(","):
            if "*" in part:
                names += [name for name in self.indices if fnmatch.fnmatchcase(name, part)]
            elif part in self.indices:
                names.append(part)
            else:
                return [], part
        return list(dict.fromkeys(names)), ""

    def _answer(self, names: list[str], body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query", {"match_all": {}})
        found = [
            (name, number, doc)
            for name in names
            for number, doc in enumerate(self.indices[name])
            if matches(query, doc)
        ]
        sorts = [_sort_spec(spec) for spec in body.get("sort", [])]
        for field_name, descending in reversed(sorts):
            found.sort(key=partial(_hit_key, field_name), reverse=descending)
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        hits = []
        for name, number, doc in found[start : start + size]:
            hit: dict[str, Any] = {"_index": name, "_id": f"{name}-{number}", "_score": None}
            hit["_source"] = _filtered(doc, body.get("_source", True))
            if sorts:
                hit["sort"] = [_sort_value(value_of(doc, f)) for f, _ in sorts]
            hits.append(hit)
        tracked = body.get("track_total_hits", 10000)
        cap = len(found) if tracked is True else int(tracked or 0)
        total = {"value": min(len(found), cap), "relation": "eq" if len(found) <= cap else "gte"}
        return {
            "took": 1,
            "timed_out": False,
            "_shards": {"total": len(names), "successful": len(names), "skipped": 0, "failed": 0},
            "hits": {"total": total, "max_score": None, "hits": hits},
        }


def _sort_spec(spec: Any) -> tuple[str, bool]:
    if isinstance(spec, str):
        return spec, False
    field_name, order = _single(spec, "sort")
    order = order.get("order", "asc") if isinstance(order, dict) else order
    return field_name, order == "desc"


def _sort_value(value: Any) -> Any:
    """Dates sort, and are shown in ``sort``, as epoch milliseconds."""
    as_millis = millis(value) if isinstance(value, str) else None
    return int(as_millis) if as_millis is not None else value


def _hit_key(field_name: str, hit: tuple[str, int, Document]) -> tuple[int, Any]:
    shown = _sort_value(value_of(hit[2], field_name))
    return (0, shown) if isinstance(shown, int | float) else (1, str(shown))


def _filtered(document: Document, wanted: Any) -> Document:
    if wanted is True or wanted is None:
        return document
    if wanted is False:
        return {}
    kept: Document = {}
    for path in wanted if isinstance(wanted, list) else [wanted]:
        value = value_of(document, path)
        if value is None:
            continue
        if path in document:
            kept[path] = value
            continue
        # Stored nested, answered nested: the source keeps the document's own shape.
        *parents, leaf = path.split(".")
        place = kept
        for part in parents:
            place = place.setdefault(part, {})
        place[leaf] = value
    return kept


def _json(body: dict[str, Any], status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=dict(headers or {})
    )
