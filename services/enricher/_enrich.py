"""The enrichment of one alert: run the plan and the log queries within a deadline, summarise.

Every failure of a source ends up in ``evidence.errors``; nothing here fails the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loguru import logger

import schemas
from schemas import Alert, EnrichedAlert, EnrichmentError, Evidence, LogEvidence, MetricEvidence, RawAlert
from services.enricher._errors import SourceError
from services.enricher._logs import LogReader, Span
from services.enricher._packs import QueryPack
from services.enricher._plan import PlannedQuery, build_plan
from services.enricher._prometheus import Prometheus, Series
from services.enricher._summary import relevance, summarise
from services.privacy import Redactor, redact_message

# Tasks still running this long after the deadline are abandoned; backends stop retrying at it.
_DEADLINE_GRACE = 0.5
_SAMPLES_PER_WINDOW = 250
_INFO_LINE = 300


@dataclass(frozen=True)
class Limits:
    window_minutes: float = 15.0
    max_metrics_points: int = 100
    max_series_per_query: int = 10
    max_queries: int = 24
    deadline_seconds: float = 20.0
    min_step_seconds: float = 15.0


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    starts_at: float
    step: float


def alert_window(alert: Alert, limits: Limits, now: datetime) -> Window:
    """``window_minutes`` either side of startsAt, clipped to now, aligned to the step for the cache."""
    span = timedelta(minutes=limits.window_minutes)
    end = min(alert.starts_at + span, now).timestamp()
    start = min((alert.starts_at - span).timestamp(), end - 60)
    # Resolution follows the window, not MAX_METRICS_POINTS: down-sampling keeps the extremes,
    # a coarse step would average them away before the summary sees them.
    step = max(limits.min_step_seconds, (end - start) / _SAMPLES_PER_WINDOW)
    step = float(round(step))
    return Window(
        start=start // step * step, end=end // step * step, starts_at=alert.starts_at.timestamp(), step=step
    )


class Enricher:
    def __init__(
        self,
        limits: Limits,
        packs: Sequence[QueryPack],
        prometheus: Prometheus | None,
        logs: LogReader | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor or Redactor()
        self._limits = limits
        self._packs = packs
        self._prometheus = prometheus
        self._logs = logs
        self._clock = clock

    @property
    def has_sources(self) -> bool:
        return self._prometheus is not None or self._logs is not None

    async def handle(self, raw: RawAlert) -> EnrichedAlert:
        evidence = await self.enrich(raw.alert)
        return self._published(schemas.enriched(raw, evidence, self._clock()))

    def handle_without_sources(self, raw: RawAlert) -> EnrichedAlert:
        """The whole of ``handle`` when neither source is configured: nothing to wait for."""
        assert not self.has_sources
        window = alert_window(raw.alert, self._limits, self._clock())
        evidence = _evidence(window, [], None, self._not_configured())
        return self._published(schemas.enriched(raw, evidence, self._clock()))

    def _published(self, enriched: EnrichedAlert) -> EnrichedAlert:
        # Sources are queried with the alert as it came; what leaves the stage has its secrets removed,
        # the alert's labels and annotations as well as every line quoted from the sources.
        return redact_message(enriched, self._redactor)

    def _not_configured(self) -> list[EnrichmentError]:
        errors = []
        if self._prometheus is None:
            errors.append(EnrichmentError(source="prometheus", reason="PROMETHEUS_URL is not set"))
        if self._logs is None:
            errors.append(EnrichmentError(source="loki", reason="LOKI_URL is not set"))
        return errors

    async def enrich(self, alert: Alert) -> Evidence:
        window = alert_window(alert, self._limits, self._clock())
        deadline = asyncio.get_running_loop().time() + self._limits.deadline_seconds
        errors = self._not_configured()
        metrics: list[MetricEvidence] = []
        logs: LogEvidence | None = None
        jobs: dict[asyncio.Task[object], str] = {}
        planned = 0
        if self._prometheus is not None:
            plan = build_plan(alert, self._packs, self._limits.max_queries)
            planned = len(plan.queries)
            logger.debug("enrichment plan: {}", plan.describe())
            for query in plan.queries:
                jobs[asyncio.ensure_future(self._metric(self._prometheus, query, window, deadline))] = (
                    query.expr
                )
        if self._logs is not None:
            span = Span(window.start, window.end)
            jobs[asyncio.ensure_future(self._logs.read(alert.labels, span, deadline))] = "logs"
        if jobs:
            done, pending = await asyncio.wait(jobs, timeout=self._limits.deadline_seconds + _DEADLINE_GRACE)
            for task in pending:
                task.cancel()
                source = "loki" if jobs[task] == "logs" else "prometheus"
                reason = f"no answer within the {self._limits.deadline_seconds:g}s enrichment deadline"
                errors.append(EnrichmentError(source=source, reason=reason, query=jobs[task]))
            for task in sorted(done, key=lambda t: list(jobs).index(t)):
                result = task.result()
                if isinstance(result, SourceError):
                    errors.append(result.to_evidence())
                elif isinstance(result, MetricEvidence):
                    metrics.append(result)
                elif isinstance(result, tuple):
                    logs = result[0]
                    errors.extend(error.to_evidence() for error in result[1])
        evidence = _evidence(window, metrics, logs, errors)
        logger.info("{}", outcome(alert, planned, evidence))
        return evidence

    async def _metric(
        self, prometheus: Prometheus, query: PlannedQuery, window: Window, deadline: float
    ) -> MetricEvidence | SourceError | None:
        try:
            if query.exists and not await prometheus.has_series(
                query.exists, window.start, window.end, deadline
            ):
                return None
            series = await prometheus.query_range(query.expr, window.start, window.end, window.step, deadline)
        except SourceError as exc:
            return exc
        if not series and query.exists:
            return None
        return self._summarise(query, series, window)

    def _summarise(self, query: PlannedQuery, series: list[Series], window: Window) -> MetricEvidence:
        span = (window.start, window.end, window.step)
        summaries = [
            summary
            for labels, points in series
            if (summary := summarise(labels, points, window.starts_at, self._limits.max_metrics_points, span))
        ]
        summaries.sort(key=lambda s: (-relevance(s), sorted(s.labels.items())))
        kept = summaries[: self._limits.max_series_per_query]
        return MetricEvidence(
            name=query.name,
            query=query.expr,
            series=kept,
            total_series=len(series),
            omitted_series=len(series) - len(kept),
        )


def _evidence(
    window: Window, metrics: list[MetricEvidence], logs: LogEvidence | None, errors: list[EnrichmentError]
) -> Evidence:
    return Evidence(
        window_start=datetime.fromtimestamp(window.start, UTC),
        window_end=datetime.fromtimestamp(window.end, UTC),
        metrics=metrics,
        logs=logs,
        errors=errors,
    )


def outcome(alert: Alert, planned: int, evidence: Evidence) -> str:
    """One short line per alert: what was found, not the whole plan (that is at DEBUG)."""
    found = sum(1 for metric in evidence.metrics if metric.series)
    parts = [f"enriched {alert.labels.get('alertname', '?')}: {found} of {planned} queries with series"]
    if evidence.logs is not None:
        selectors = ", ".join(source.selector for source in evidence.logs.sources)
        parts.append(
            f"logs {evidence.logs.lines} lines, {len(evidence.logs.templates)} templates from {selectors}"
        )
    if evidence.errors:
        sources = ", ".join(sorted({error.source for error in evidence.errors}))
        parts.append(f"{len(evidence.errors)} errors ({sources})")
    line = "; ".join(parts)
    return line if len(line) <= _INFO_LINE else line[: _INFO_LINE - 1] + "…"
