"""Loki's ``/loki/api/v1/query_range``: LogQL from the alert's labels, error and warning lines first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.enricher._backend import Backend
from services.enricher._errors import SourceError
from services.enricher._promql import quote_value

# Case-insensitive words that mark a line worth reading during an incident.
PROBLEM_FILTER = (
    "(?i)(error|err=|fatal|panic|exception|fail|warn|timeout|timed out|refused|unreachable|oom|killed|denied)"
)
NANOS = 1_000_000_000

Entry = tuple[float, str]


def parse_label_map(pairs: Sequence[str]) -> dict[str, str]:
    """``["instance=host", "pod=pod"]`` → ``{"instance": "host", "pod": "pod"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        alert_label, separator, stream_label = (part.strip() for part in pair.partition("="))
        if not separator or not alert_label or not stream_label:
            raise ValueError(f"label map entry {pair!r} must look like alert_label=loki_label")
        mapping[alert_label] = stream_label
    return mapping


def stream_selector(labels: Mapping[str, str], label_map: Mapping[str, str]) -> str | None:
    """``{host="web-1", pod="api-0"}`` from the alert's labels; None when none of them maps.

    ``instance`` usually carries a scrape port (``web-1:9100``) that log streams do not.
    """
    matchers: dict[str, str] = {}
    for alert_label, stream_label in label_map.items():
        value = labels.get(alert_label)
        if not value:
            continue
        if alert_label == "instance" and value.rsplit(":", 1)[-1].isdigit():
            value = value.rsplit(":", 1)[0]
        matchers[stream_label] = value
    if not matchers:
        return None
    return "{" + ", ".join(f"{name}={quote_value(matchers[name])}" for name in sorted(matchers)) + "}"


def problem_query(selector: str) -> str:
    return f"{selector} |~ `{PROBLEM_FILTER}`"


def parse_streams(body: Any, query: str) -> list[Entry]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "streams":
        raise SourceError("loki", "answered without a streams result", query)
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
        self, query: str, start: float, end: float, limit: int, deadline: float
    ) -> list[Entry]:
        params = [
            ("query", query),
            ("start", str(int(start * NANOS))),
            ("end", str(int(end * NANOS))),
            ("limit", str(limit)),
            # Newest first: when the limit cuts, the lines of the latest state are kept.
            ("direction", "backward"),
        ]
        body = await self._backend.get_json("/loki/api/v1/query_range", params, query, deadline)
        return parse_streams(body, query)
