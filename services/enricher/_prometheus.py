"""Prometheus as a source (also Thanos, Mimir, VictoriaMetrics): the HTTP API's existence checks and
range queries, and the source that runs the query packs' plan for an alert and summarises the answers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Self

import msgspec
from loguru import logger

from schemas import Alert, MetricEvidence, SourceErrorKind
from services.enricher._backend import Backend, parse_headers
from services.enricher._errors import PackError, SourceError
from services.enricher._packs import QueryPack, load_packs, pack_folders
from services.enricher._plan import PlannedQuery, build_plan
from services.enricher._shared_settings import SharedSettings
from services.enricher._source import Found, Job, Shared, Source, SourceSettings, Window
from services.enricher._summary import relevance, summarise
from services.runtime import ConfigError, doc

Point = tuple[float, float]
Series = tuple[dict[str, str], list[Point]]


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _data(body: Any, source: str, query: str) -> Any:
    if not isinstance(body, dict) or body.get("status") != "success":
        raise SourceError(source, "answered without status=success", query, SourceErrorKind.BAD_ANSWER)
    return body.get("data")


def parse_matrix(data: Any, source: str, query: str) -> list[Series]:
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise SourceError(source, f"expected a matrix result, got {kind}", query, SourceErrorKind.BAD_ANSWER)
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


class PrometheusSettings(SourceSettings, kw_only=True, frozen=True):
    prometheus_url: Annotated[
        str, doc("Prometheus-compatible API base URL (Thanos, Mimir, VictoriaMetrics too)")
    ] = ""
    prometheus_username: Annotated[str, doc("Basic auth user for Prometheus")] = ""
    prometheus_password: Annotated[str, doc("Basic auth password for Prometheus", secret=True)] = ""
    prometheus_bearer_token: Annotated[str, doc("Bearer token for Prometheus", secret=True)] = ""
    prometheus_headers: Annotated[
        list[str], doc("Extra headers for Prometheus, comma-separated Name=value pairs", secret=True)
    ] = msgspec.field(default_factory=list)
    prometheus_verify_tls: Annotated[bool, doc("Verify Prometheus' TLS certificate")] = True


class PrometheusSource(Source):
    """Metrics: the query packs' plan for the alert, each query a job, each answer summarised."""

    name = "prometheus"
    setting = "PROMETHEUS_URL"
    settings_type = PrometheusSettings
    expected = True

    def __init__(self, prometheus: Prometheus, packs: Sequence[QueryPack], settings: SharedSettings) -> None:
        self._prometheus = prometheus
        self._packs = packs
        self._max_queries = settings.max_queries_per_alert
        self._max_points = settings.max_metrics_points
        self._max_series = settings.max_series_per_query

    @classmethod
    def configured(cls, settings: PrometheusSettings) -> bool:
        return bool(settings.prometheus_url)

    @classmethod
    def from_settings(cls, settings: PrometheusSettings, shared: Shared) -> Self:
        try:
            headers = parse_headers(settings.prometheus_headers)
        except ValueError as exc:
            raise ConfigError(f"PROMETHEUS_HEADERS: {exc}") from exc
        backend = shared.backend(
            cls.name,
            settings.prometheus_url,
            username=settings.prometheus_username,
            password=settings.prometheus_password,
            bearer_token=settings.prometheus_bearer_token,
            headers=headers,
            verify_tls=settings.prometheus_verify_tls,
        )
        return cls(Prometheus(backend), configured_packs(shared.settings), shared.settings)

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        plan = build_plan(alert, self._packs, self._max_queries)
        logger.debug("enrichment plan: {}", plan.describe())
        return [Job(query.expr, partial(self._metric, query, window), metric=True) for query in plan.queries]

    async def _metric(self, query: PlannedQuery, window: Window, deadline: float) -> Found:
        prometheus = self._prometheus
        try:
            if query.exists and not await prometheus.has_series(
                query.exists, window.start, window.end, deadline
            ):
                return Found()
            series = await prometheus.query_range(query.expr, window.start, window.end, window.step, deadline)
        except SourceError as exc:
            return Found(errors=[exc])
        if not series and query.exists:
            return Found()
        return Found(metrics=[self._summarise(query, series, window)])

    def _summarise(self, query: PlannedQuery, series: list[Series], window: Window) -> MetricEvidence:
        span = (window.start, window.end, window.step)
        summaries = [
            summary
            for labels, points in series
            if (summary := summarise(labels, points, window.starts_at, self._max_points, span))
        ]
        summaries.sort(key=lambda s: (-relevance(s), sorted(s.labels.items())))
        kept = summaries[: self._max_series]
        return MetricEvidence(
            name=query.name,
            query=query.expr,
            series=kept,
            total_series=len(series),
            omitted_series=len(series) - len(kept),
        )


def configured_packs(settings: SharedSettings) -> list[QueryPack]:
    """The built-in packs with ENRICHMENT_PACKS_DIR's (``load_packs``); a pack that cannot work stops
    the start."""
    directory = Path(settings.enrichment_packs_dir) if settings.enrichment_packs_dir else None
    try:
        packs = load_packs(directory)
    except PackError as exc:
        raise ConfigError(f"ENRICHMENT_PACKS_DIR: {exc}") from exc
    folders = " then ".join(str(folder) for folder in pack_folders(directory))
    logger.info("query packs from {}: {}", folders, ", ".join(pack.name for pack in packs) or "none")
    return packs
