"""The analyst's own telemetry, next to the runtime's: LLM requests, tokens, cache, fallbacks, and the
incidents' log (whether replicas race)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

import schemas
from services.runtime import per_registry


class AnalystMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.llm_requests = Counter(
            "aiops_llm_requests", "LLM requests by outcome", ["outcome"], registry=registry
        )
        self.llm_tokens = Counter(
            "aiops_llm_tokens", "Tokens the provider counted", ["kind"], registry=registry
        )
        self.llm_seconds = Histogram(
            "aiops_llm_request_seconds",
            "Duration of one LLM request",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=registry,
        )
        self.analyses = Counter(
            "aiops_analyses", "Analyses published", ["analyzer", "degraded", "reused"], registry=registry
        )
        self.fallbacks = Counter(
            "aiops_llm_fallbacks",
            "Analyses the rules analyst answered instead of the LLM",
            ["error_type"],
            registry=registry,
        )
        self.incident_analyses = Counter(
            "aiops_incident_analyses",
            "Incident analyses made (one per incident, more on material changes)",
            ["analyzer", "degraded"],
            registry=registry,
        )
        self.reviews_deferred = Counter(
            "aiops_incident_reviews_deferred",
            "Due incident reviews that waited for the analyst's queued alerts to be placed first",
            registry=registry,
        )
        self._published: dict[tuple[str, bool, bool], Counter] = {}
        self.cache = Counter("aiops_analysis_cache", "Episode cache lookups", ["result"], registry=registry)
        self.llm_daily_tokens = Gauge(
            "aiops_llm_daily_tokens",
            "LLM tokens spent today (UTC) by all replicas, as this replica last counted",
            registry=registry,
        )
        self.breaker_open = Gauge(
            "aiops_llm_breaker_open", "1 while the LLM circuit breaker is open", registry=registry
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> Self:
        """The metrics registered in ``registry``, registering them the first time (the stage and its
        companion consumer serve one /metrics)."""
        return per_registry(registry, cls)

    def published(self, analysis: schemas.Analysis) -> None:
        key = (analysis.analyzer, analysis.degraded, analysis.reused)
        child = self._published.get(key)
        if child is None:
            # Every message counts here: look the labels up once.
            child = self._published[key] = self.analyses.labels(
                analysis.analyzer, str(analysis.degraded).lower(), str(analysis.reused).lower()
            )
        child.inc()


class LogCounts(Protocol):
    """What the incidents' log (``services.incidents.Journal``) counts of its own writes and reads."""

    written: int
    lost: int
    rebased: int
    yielded: int
    read_whole: int


class IncidentLogMetrics(Collector):
    """The incident log's counts, read at scrape time: whether analyst replicas race on a shard.

    A lost append is one another replica's entry came before; it was re-sent unchanged (``rebased``)
    when that entry touched nothing the batch read, else placed again. Many losses per write mean
    replicas share shards (alerts without a ``cluster`` label are all one shard)."""

    def __init__(self, log: LogCounts) -> None:
        self.log = log

    def collect(self) -> Iterator[Metric]:
        for name, doc, count in _LOG_FAMILIES:
            yield CounterMetricFamily(name, doc, value=getattr(self.log, count))

    def describe(self) -> Iterator[Metric]:
        """The families without their values: the registry refuses a second collector of these names."""
        for name, doc, _ in _LOG_FAMILIES:
            yield CounterMetricFamily(name, doc)


# Each family of IncidentLogMetrics: its name, its help, the LogCounts attribute it reads.
_LOG_FAMILIES = (
    ("aiops_incident_log_writes", "Entries this replica appended to the incidents' log", "written"),
    (
        "aiops_incident_log_conflicts",
        "Appends refused because another replica's entry came first (placed again or re-sent)",
        "lost",
    ),
    (
        "aiops_incident_log_rebased",
        "Refused appends re-sent unchanged: the entry before touched nothing they read",
        "rebased",
    ),
    (
        "aiops_incident_log_yields",
        "Appends held back until a replica that lost the shard's last race had written its entry",
        "yielded",
    ),
    (
        "aiops_incident_log_reads",
        "Entries read whole from the log: other replicas', and the log's on start",
        "read_whole",
    ),
)
