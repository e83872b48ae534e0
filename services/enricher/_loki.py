"""Loki's HTTP API: ``query_range`` for lines, ``series`` for which streams exist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas import SourceErrorKind
from services.enricher._backend import Backend
from services.enricher._errors import SourceError
from services.enricher._source import Entry

# Case-insensitive words that mark a line worth reading during an incident, whole words only
# ("oom" must not find "room"); ``Failed\w*`` also finds event reasons such as FailedMount.
PROBLEM_FILTER = (
    r"(?i)\b(?:errors?|err|fatal|panic\w*|exceptions?|fail\w*|warn|warning|timeout|timed out|refused"
    r"|unreachable|oom\w*|killed|denied|back-?off|unhealthy|evicted)\b"
)
NANOS = 1_000_000_000


def parse_label_map(pairs: Sequence[str], target: str = "loki_label") -> dict[str, str]:
    """``["instance=host", "pod=pod"]`` → ``{"instance": "host", "pod": "pod"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        alert_label, separator, stream_label = (part.strip() for part in pair.partition("="))
        if not separator or not alert_label or not stream_label:
            raise ValueError(f"label map entry {pair!r} must look like alert_label={target}")
        mapping[alert_label] = stream_label
    return mapping


def problem_query(selector: str) -> str:
    return f"{selector} |~ `{PROBLEM_FILTER}`"


def parse_streams(body: Any, query: str) -> list[Entry]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "streams":
        raise SourceError("loki", "answered without a streams result", query, SourceErrorKind.BAD_ANSWER)
    entries: list[Entry] = []
    for stream in data.get("result") or []:
        for timestamp, line in stream.get("values") or []:
            entries.append((int(timestamp) / NANOS, str(line)))
    entries.sort(key=lambda entry: entry[0])
    return entries


class Loki:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def query_range(
        self, query: str, start: float, end: float, limit: int, deadline: float, *, forward: bool = False
    ) -> list[Entry]:
        """Lines in time order; ``forward`` keeps the oldest when ``limit`` cuts, else the newest."""
        params = [
            ("query", query),
            ("start", str(int(start * NANOS))),
            ("end", str(int(end * NANOS))),
            ("limit", str(limit)),
            ("direction", "forward" if forward else "backward"),
        ]
        body = await self._backend.get_json("/loki/api/v1/query_range", params, query, deadline)
        return parse_streams(body, query)

    async def series(
        self, selectors: Sequence[str], start: float, end: float, deadline: float
    ) -> list[dict[str, str]]:
        """The label sets of the streams any of ``selectors`` matches in the window."""
        params = [("match[]", selector) for selector in selectors]
        params += [("start", str(int(start * NANOS))), ("end", str(int(end * NANOS)))]
        query = " or ".join(selectors)
        body = await self._backend.get_json("/loki/api/v1/series", params, query, deadline)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise SourceError(
                "loki", "answered /series without a list of streams", query, SourceErrorKind.BAD_ANSWER
            )
        return [{str(k): str(v) for k, v in item.items()} for item in data if isinstance(item, dict)]
