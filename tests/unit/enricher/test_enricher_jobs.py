"""How the enricher runs sources' jobs: at once, within the deadline, one source's fault kept to itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Self

from loguru import logger

from schemas import Alert, LogSource, MetricEvidence, SourceErrorKind
from services.enricher._enrich import Enricher, Limits
from services.enricher._logs import LogLimits
from services.enricher._settings import EnricherSettings
from services.enricher._source import Found, Job, LogRead, Shared, Source, Window

NOW = datetime(2026, 5, 14, 10, tzinfo=UTC)
ALERT = Alert(status="firing", labels={"alertname": "Down", "pod": "api-0"}, starts_at=NOW)


class Scripted(Source):
    """A source whose jobs are given: what a plug-in's ``plan`` returns, without a backend."""

    name = "scripted"
    setting = "SCRIPTED_URL"

    def __init__(self, jobs: list[Job], name: str = "scripted", broken: bool = False) -> None:
        self._jobs = jobs
        self.name = name  # type: ignore[misc]
        self._broken = broken

    @classmethod
    def configured(cls, settings: EnricherSettings) -> bool:
        return True

    @classmethod
    def from_settings(cls, settings: EnricherSettings, shared: Shared) -> Self:
        raise NotImplementedError

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        if self._broken:
            raise KeyError("a label the source assumed")
        return self._jobs


def found(value: Found) -> Job:
    async def run(deadline: float) -> Found:
        return value

    return Job("q", run)


def lines(backend: str, *texts: tuple[float, str]) -> Found:
    source = LogSource(name="workload", selector=f"{backend} selector", lines=len(texts), backend=backend)
    return Found(logs=[LogRead(source, f"{backend} query", list(texts))])


def enricher(*sources: Source, deadline: float = 5.0) -> Enricher:
    limits = Limits(deadline_seconds=deadline)
    return Enricher(limits, sources, LogLimits(), clock=lambda: NOW)


async def test_a_job_the_deadline_cuts_is_a_timeout_and_the_others_keep_what_they_found() -> None:
    never = asyncio.Event()

    async def hangs(deadline: float) -> Found:
        await never.wait()
        return Found()

    metric = MetricEvidence(name="up", query="up")
    source = Scripted([Job("slow_query", hangs, metric=True), found(Found(metrics=[metric]))])
    evidence = await enricher(source, deadline=0.1).enrich(ALERT)
    assert evidence.metrics == [metric]
    [error] = evidence.errors
    assert (error.source, error.query, error.kind) == ("scripted", "slow_query", SourceErrorKind.TIMEOUT)


async def test_a_source_that_raises_is_its_own_error_not_the_alerts() -> None:
    broken_plan = Scripted([], name="broken", broken=True)

    async def raises(deadline: float) -> Found:
        raise ValueError("password=hunter2 in a message nobody should see")

    broken_job = Scripted([Job("the query", raises)], name="buggy")
    healthy = Scripted([found(lines("loki", (NOW.timestamp(), "error: disk full")))], name="loki")
    logged: list[str] = []
    sink = logger.add(logged.append, level="DEBUG", backtrace=True, diagnose=True)
    try:
        evidence = await enricher(broken_plan, broken_job, healthy).enrich(ALERT)
    finally:
        logger.remove(sink)
    assert any("buggy failed on the query: ValueError" in line for line in logged)
    assert "hunter2" not in "".join(logged)
    assert evidence.logs is not None
    assert evidence.logs.templates[0].sample == "error: disk full"
    assert [(e.source, e.reason, e.kind) for e in evidence.errors] == [
        ("broken", "failed: KeyError", SourceErrorKind.UNAVAILABLE),
        ("buggy", "failed: ValueError", SourceErrorKind.UNAVAILABLE),
    ]


async def test_the_lines_of_every_log_source_are_one_ranked_evidence() -> None:
    at = NOW.timestamp()
    loki = Scripted([found(lines("loki", (at, "level=info msg=started"), (at + 2, "connection refused")))])
    elastic = Scripted([found(lines("elasticsearch", (at + 1, "ERROR connection refused")))], name="es")
    evidence = await enricher(loki, elastic).enrich(ALERT)
    logs = evidence.logs
    assert logs is not None
    assert logs.lines == 3
    assert logs.query == "loki query"
    assert [(s.backend, s.lines) for s in logs.sources] == [("loki", 2), ("elasticsearch", 1)]
    # Ranked together: the first problem of either source leads.
    assert logs.templates[0].sample == "ERROR connection refused"
