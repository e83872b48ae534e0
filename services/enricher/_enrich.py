"""The enrichment of one alert: every source's jobs within a deadline, their evidence merged.

Every failure of a source ends up in ``evidence.errors``; nothing here fails the message.
"""

from __future__ import annotations

import asyncio
import functools
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from loguru import logger

import schemas
from schemas import Alert, EnrichedAlert, EnrichmentError, Evidence, MetricEvidence, RawAlert, SourceErrorKind
from services.enricher._errors import SourceError
from services.enricher._logs import LogLimits, log_evidence
from services.enricher._source import Found, Job, LogRead, Source, Window
from services.privacy import Redactor, redact_message, redact_value

# Tasks still running this long after the deadline are abandoned; backends stop retrying at it.
_DEADLINE_GRACE = 0.5
_SAMPLES_PER_WINDOW = 250
_INFO_LINE = 300

__all__ = ["Enricher", "Limits", "Window", "alert_window", "outcome"]


@dataclass(frozen=True)
class Limits:
    window_minutes: float = 15.0
    max_metrics_points: int = 100
    max_series_per_query: int = 10
    max_queries: int = 24
    deadline_seconds: float = 20.0
    min_step_seconds: float = 15.0


@functools.cache
def _minutes(minutes: float) -> timedelta:
    # Made from a float, a timedelta costs as much as the rest of the window; the setting is one value.
    return timedelta(minutes=minutes)


def alert_window(alert: Alert, limits: Limits, now: datetime) -> Window:
    """``window_minutes`` either side of startsAt, clipped to now, aligned to the step for the cache."""
    span = _minutes(limits.window_minutes)
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
    """Runs every job of every configured source at once within the deadline, and merges what they found."""

    def __init__(
        self,
        limits: Limits,
        sources: Sequence[Source],
        log_limits: LogLimits,
        missing: Sequence[type[Source]] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        redactor: Redactor | None = None,
    ) -> None:
        self._redactor = redactor or Redactor()
        self._limits = limits
        self._sources = list(sources)
        self._log_limits = log_limits
        # Expected sources the settings leave out: the same errors for every alert.
        self._not_configured = [
            EnrichmentError(
                source=source.name, reason=f"{source.setting} is not set", kind=SourceErrorKind.NOT_CONFIGURED
            )
            for source in missing
        ]
        # So the same redaction too: done once here (the same list when there is nothing to redact).
        self._not_configured_redacted = redact_value(self._not_configured, self._redactor)
        self._clock = clock

    @property
    def has_sources(self) -> bool:
        return bool(self._sources)

    async def handle(self, raw: RawAlert) -> EnrichedAlert:
        evidence = await self.enrich(raw.alert)
        return self._published(raw, schemas.enriched(raw, evidence, self._clock()))

    def _published(self, raw: RawAlert, enriched: EnrichedAlert) -> EnrichedAlert:
        # Sources are queried with the alert as it came; what leaves the stage has its secrets removed:
        # every line quoted from the sources, and the alert's labels and annotations unless ingest did.
        if raw.redacted:
            if not self._sources:
                # Nothing was read: the evidence holds no string but the not-configured errors'.
                if self._not_configured_redacted is self._not_configured:
                    return enriched
                evidence = msgspec.structs.replace(
                    enriched.evidence, errors=list(self._not_configured_redacted)
                )
                return msgspec.structs.replace(enriched, evidence=evidence)
            evidence = redact_value(enriched.evidence, self._redactor)
            return (
                enriched
                if evidence is enriched.evidence
                else msgspec.structs.replace(enriched, evidence=evidence)
            )
        return redact_message(enriched, self._redactor)

    async def enrich(self, alert: Alert) -> Evidence:
        window = alert_window(alert, self._limits, self._clock())
        deadline = asyncio.get_running_loop().time() + self._limits.deadline_seconds
        errors = list(self._not_configured)
        metrics: list[MetricEvidence] = []
        reads: list[LogRead] = []
        jobs: dict[asyncio.Task[Found], tuple[str, Job]] = {}
        for source in self._sources:
            try:
                plan = source.plan(alert, window)
            except Exception as exc:  # a bug in one source must not cost the others' evidence
                errors.append(_failed(source.name, "plan", exc).to_evidence())
                continue
            for job in plan:
                jobs[asyncio.ensure_future(job.run(deadline))] = (source.name, job)
        planned = sum(1 for _, job in jobs.values() if job.metric)
        if jobs:
            done, pending = await asyncio.wait(jobs, timeout=self._limits.deadline_seconds + _DEADLINE_GRACE)
            for task in pending:
                task.cancel()
                name, job = jobs[task]
                reason = f"no answer within the {self._limits.deadline_seconds:g}s enrichment deadline"
                errors.append(
                    EnrichmentError(source=name, reason=reason, query=job.query, kind=SourceErrorKind.TIMEOUT)
                )
            order = list(jobs)
            for task in sorted(done, key=order.index):
                found = _found(task, *jobs[task])
                metrics.extend(found.metrics)
                reads.extend(found.logs)
                errors.extend(error.to_evidence() for error in found.errors)
        evidence = _evidence(window, metrics, reads, errors, self._log_limits)
        if self._sources:  # with none, start-up said so once; a line per alert would tell nothing new
            logger.info("{}", outcome(alert, planned, evidence))
        return evidence


def _found(task: asyncio.Task[Found], source: str, job: Job) -> Found:
    """A job's result; a job that raised is a bug in its source, told as that source's error."""
    try:
        return task.result()
    except Exception as exc:
        return Found(errors=[_failed(source, job.query, exc)])


def _failed(source: str, query: str, exc: Exception) -> SourceError:
    # Where, not the traceback's locals: they hold the source's settings, credentials included.
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = f"{frame.filename}:{frame.lineno}"
    logger.error("enrichment source {} failed on {}: {} at {}", source, query, type(exc).__name__, where)
    return SourceError(source, f"failed: {type(exc).__name__}", query, SourceErrorKind.UNAVAILABLE)


def _evidence(
    window: Window,
    metrics: list[MetricEvidence],
    reads: list[LogRead],
    errors: list[EnrichmentError],
    log_limits: LogLimits | None = None,
) -> Evidence:
    return Evidence(
        window_start=datetime.fromtimestamp(window.start, UTC),
        window_end=datetime.fromtimestamp(window.end, UTC),
        metrics=metrics,
        logs=log_evidence(reads, log_limits or LogLimits()),
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
