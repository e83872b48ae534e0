"""A Loki that holds a benchmark case's streams in memory and answers the enricher's two calls.

It speaks the subset of LogQL the enricher sends: a stream selector with ``=``, ``!=``, ``=~`` and
``!~`` matchers (regexes fully anchored, as in Loki), then ``|~`` / ``|=`` line filters. A query
outside that subset raises ``Unmappable``: the case's logs are then left out and counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from services.analyst.eval._unmappable import Unmappable

Entry = tuple[float, str]

_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_FILTER = re.compile(r'\s*\|(~|=)\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value)


class _Query:
    def __init__(self, text: str) -> None:
        rest = text.strip()
        if not rest.startswith("{"):
            raise Unmappable(f"LogQL the stored Loki does not read: {text[:120]}")
        rest = rest[1:].strip()
        self.matchers: list[tuple[str, str, str]] = []
        while not rest.startswith("}"):
            matcher = _MATCHER.match(rest)
            if not matcher:
                raise Unmappable(f"stream matcher the stored Loki does not read: {rest[:120]}")
            self.matchers.append((matcher.group(1), matcher.group(2), _unescape(matcher.group(3))))
            rest = rest[matcher.end() :].strip()
        self.filters: list[re.Pattern[str]] = []
        pipeline = rest[1:].strip()
        while pipeline:
            line_filter = _FILTER.match(pipeline)
            if not line_filter:
                raise Unmappable(f"LogQL pipeline the stored Loki does not read: {pipeline[:120]}")
            op, raw, quoted = line_filter.groups()
            pattern = raw if raw is not None else _unescape(quoted)
            self.filters.append(re.compile(re.escape(pattern) if op == "=" else pattern))
            pipeline = pipeline[line_filter.end() :].strip()

    def selects(self, stream: Mapping[str, str]) -> bool:
        for name, op, value in self.matchers:
            found = stream.get(name, "")
            hit = re.fullmatch(value, found) is not None if "~" in op else found == value
            if hit == op.startswith("!"):
                return False
        return True

    def keeps(self, line: str) -> bool:
        return all(pattern.search(line) for pattern in self.filters)


class StoredLoki:
    """``series`` and ``query_range`` as ``services/enricher/_loki.Loki`` has them, over stored streams."""

    def __init__(self, streams: Sequence[tuple[dict[str, str], list[Entry]]]) -> None:
        self._streams = streams

    async def query_range(
        self, query: str, start: float, end: float, limit: int, deadline: float, *, forward: bool = False
    ) -> list[Entry]:
        parsed = _Query(query)
        found = sorted(
            entry
            for labels, entries in self._streams
            if parsed.selects(labels)
            for entry in entries
            if start <= entry[0] <= end and parsed.keeps(entry[1])
        )
        return found[:limit] if forward else found[-limit:]

    async def series(
        self, selectors: Sequence[str], start: float, end: float, deadline: float
    ) -> list[dict[str, str]]:
        parsed = [_Query(selector) for selector in selectors]
        return [
            dict(labels)
            for labels, entries in self._streams
            if any(start <= t <= end for t, _ in entries) and any(q.selects(labels) for q in parsed)
        ]
