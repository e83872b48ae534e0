"""The analyst's ``handle()``: reuse the episode's analysis, or make one (LLM or rules), and publish.

firing, first time      -> analyze (LLM when configured, else rules), keep it for the episode
firing, re-sent         -> the kept analysis, reused=True, no LLM call
resolved                -> the kept analysis, summary says it resolved and after how long
replay with reanalyze   -> analyze again on purpose, and keep the new answer

With incidents on (``_incidents``), the rules explain each alert and the message names its incident;
the LLM explains the incident once (``_reviews``), not each of its alerts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import msgspec
from loguru import logger

import schemas
from services.analyst._cache import EpisodeCache, cache_key
from services.analyst._incidents import Incidents
from services.analyst._metrics import AnalystMetrics
from services.analyst._placement import Placed
from services.analyst._rules import RulesAnalyst, with_safe_evidence

# Without incidents every alert is placed nowhere, and says so with one shared value.
_NOWHERE = Placed()


class Explainer(Protocol):
    async def analyze(self, message: schemas.EnrichedAlert) -> schemas.Analysis: ...


def resolved(
    analysis: schemas.Analysis, alert: schemas.Alert, now: datetime, *, reused: bool
) -> schemas.Analysis:
    ended = alert.ends_at if alert.ends_at is not None and alert.ends_at > alert.starts_at else now
    lasted = schemas.duration(max(0.0, (ended - alert.starts_at).total_seconds()))
    return msgspec.structs.replace(
        analysis, summary=f"Resolved after {lasted}: {analysis.summary}", reused=reused
    )


class Analyst:
    def __init__(
        self,
        rules: RulesAnalyst,
        metrics: AnalystMetrics,
        llm: Explainer | None = None,
        cache: EpisodeCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        incidents: Incidents | None = None,
    ) -> None:
        self.rules = rules
        self.metrics = metrics
        self.llm = llm
        self.cache = cache
        self.incidents = incidents
        self.clock = clock
        # Concurrent copies of one episode wait for the first one's analysis instead of calling again.
        self._pending: dict[str, asyncio.Future[schemas.Analysis]] = {}

    async def handle(self, message: schemas.EnrichedAlert) -> schemas.AnalyzedAlert:
        alert = message.alert
        reanalyze = message.replay is not None and message.replay.reanalyze
        cached = None if reanalyze else await self._lookup(alert)
        if reanalyze:
            self.metrics.cache.labels("bypass").inc()
        if cached is not None:
            analysis = msgspec.structs.replace(cached, reused=True)
        else:
            analysis, shared = await self._analyze_once(message, keep=alert.status == "firing")
            if analysis.reused != shared:  # a fresh analysis already says it is not reused
                analysis = msgspec.structs.replace(analysis, reused=shared)
        placed = self.incidents.take(message, analysis) if self.incidents is not None else _NOWHERE
        return self._analyzed(message, analysis, placed)

    def _analyzed(
        self, message: schemas.EnrichedAlert, analysis: schemas.Analysis, placed: Placed
    ) -> schemas.AnalyzedAlert:
        if message.alert.status == "resolved":
            analysis = resolved(analysis, message.alert, self.clock(), reused=analysis.reused)
        if placed.degraded:
            analysis = msgspec.structs.replace(analysis, degraded=True, degraded_reason=placed.degraded)
        # Every analyst's evidence, kept or fresh, is made safe here, as it is published.
        analysis = with_safe_evidence(analysis)
        self.metrics.published(analysis)
        return schemas.analyzed(message, analysis, self.clock(), placed.ref)

    async def _lookup(self, alert: schemas.Alert) -> schemas.Analysis | None:
        if self.cache is None:
            return None
        try:
            found = await self.cache.get(alert)
        except Exception as exc:
            # A cache outage costs an extra analysis, never a lost alert.
            logger.warning("episode cache unavailable ({}); analysing afresh", type(exc).__name__)
            self.metrics.cache.labels("error").inc()
            return None
        self.metrics.cache.labels("hit" if found else "miss").inc()
        return found.analysis if found else None

    async def _analyze_once(
        self, message: schemas.EnrichedAlert, keep: bool
    ) -> tuple[schemas.Analysis, bool]:
        if self.llm is None and self.cache is None:
            # Rules answer at once, so no copy of the episode can wait for them, and nothing keeps them.
            return self.rules.analyze(message), False
        key = cache_key(message.alert)
        if key in self._pending:
            return await asyncio.shield(self._pending[key]), True
        future: asyncio.Future[schemas.Analysis] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            analysis = await self._analyze(message)
            future.set_result(analysis)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it twice
            raise
        finally:
            del self._pending[key]
        if keep and self.cache is not None and not analysis.degraded:
            try:
                await self.cache.put(message.alert, analysis, self.clock())
            except Exception as exc:
                logger.warning("cannot keep the analysis for the episode ({})", type(exc).__name__)
                self.metrics.cache.labels("error").inc()
        return analysis, False

    async def _analyze(self, message: schemas.EnrichedAlert) -> schemas.Analysis:
        if self.llm is not None:
            return await self.llm.analyze(message)
        return self.rules.analyze(message)
