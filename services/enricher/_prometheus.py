"""The Prometheus HTTP API (also Thanos, Mimir, VictoriaMetrics): existence checks and range queries."""

from __future__ import annotations

import math
from typing import Any

from services.enricher._backend import Backend
from services.enricher._errors import SourceError

Point = tuple[float, float]
Series = tuple[dict[str, str], list[Point]]


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _data(body: Any, source: str, query: str) -> Any:
    if not isinstance(body, dict) or body.get("status") != "success":
        raise SourceError(source, "answered without status=success", query)
    return body.get("data")


def parse_matrix(data: Any, source: str, query: str) -> list[Series]:
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise SourceError(source, f"expected a matrix result, got {kind}", query)
    series: list[Series] = []
    for item in data.get("result") or []:
        points: list[Point] = []
        for timestamp, value in item.get("values") or []:
            number = float(value)
            if math.isfinite(number):
                points.append((float(timestamp), number))
        series.append((dict(item.get("metric") or {}), points))
    return series


class Prometheus:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def has_series(self, selector: str, start: float, end: float, deadline: float) -> bool:
        """Whether ``selector`` matches any series in the window; far cheaper than ranging over it."""
        params = [("match[]", selector), ("start", _seconds(start)), ("end", _seconds(end)), ("limit", "1")]
        body = await self._backend.get_json("/api/v1/series", params, selector, deadline)
        data = _data(body, self._backend.config.source, selector)
        return bool(data)

    async def query_range(
        self, expr: str, start: float, end: float, step: float, deadline: float
    ) -> list[Series]:
        params = [("query", expr), ("start", _seconds(start)), ("end", _seconds(end)), ("step", f"{step:g}")]
        body = await self._backend.get_json("/api/v1/query_range", params, expr, deadline)
        return parse_matrix(_data(body, self._backend.config.source, expr), self._backend.config.source, expr)
