"""The analyst's own telemetry, next to the runtime's: LLM requests, tokens, cache, fallbacks."""

from __future__ import annotations

from typing import Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
