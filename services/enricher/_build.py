"""Wiring: settings → HTTP session, backends, packs, the Enricher, and its counters."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
from prometheus_client import CollectorRegistry, Counter

import schemas
from schemas import EnrichedAlert, RawAlert, SourceErrorKind
from services.enricher._cache import TtlCache
from services.enricher._enrich import Enricher, Limits
from services.enricher._logs import log_limits_from
from services.enricher._loki_source import events_selector as events_selector
from services.enricher._settings import EnricherSettings
from services.enricher._source import Shared
from services.enricher._sources import configured_sources
from services.privacy import Redactor, configured_redactor
from services.runtime import ConfigError, Handler, Runtime, StageSpec

__all__ = ["SPEC", "build", "count_errors", "limits_from", "log_limits_from", "make_enricher"]


def limits_from(settings: EnricherSettings) -> Limits:
    return Limits(
        window_minutes=settings.time_window_minutes,
        max_metrics_points=settings.max_metrics_points,
        max_series_per_query=settings.max_series_per_query,
        max_queries=settings.max_queries_per_alert,
        deadline_seconds=settings.enrichment_deadline_seconds,
    )


def make_enricher(
    settings: EnricherSettings, session: aiohttp.ClientSession, redactor: Redactor | None = None
) -> Enricher:
    """Everything but NATS; raises ConfigError for a setting or pack that cannot work. ``redactor`` replaces
    the one REDACT_PATTERNS gives (the benchmark's baseline)."""
    redactor = redactor or configured_redactor(settings.redact_patterns)
    shared = Shared(session, TtlCache(settings.query_cache_seconds), settings)
    sources, missing = configured_sources(settings, shared)
    return Enricher(limits_from(settings), sources, log_limits_from(settings), missing, redactor=redactor)


def count_errors(registry: CollectorRegistry) -> Callable[[EnrichedAlert], None]:
    errors = Counter(
        "aiops_enrichment_errors_total",
        "Sources that could not contribute to an alert's evidence, by source and error kind",
        ["source", "error_type"],
        registry=registry,
    )

    children: dict[tuple[str, SourceErrorKind], Counter] = {}

    def record(enriched: EnrichedAlert) -> None:
        for error in enriched.evidence.errors:
            # A label lookup per error is measurable when every alert records two (even ``kind.value`` is).
            key = (error.source, error.kind)
            child = children.get(key)
            if child is None:
                child = children[key] = errors.labels(error.source, error.kind.value)
            child.inc()

    return record


async def build(settings: EnricherSettings, runtime: Runtime) -> Handler:
    session = aiohttp.ClientSession()
    runtime.on_close(session.close)
    try:
        enricher = make_enricher(settings, session)
    except ConfigError:
        await session.close()
        raise
    record = count_errors(runtime.registry)

    async def handle(raw: RawAlert) -> EnrichedAlert:
        enriched = await enricher.handle(raw)
        record(enriched)
        return enriched

    # With no source to query, enrichment waits on nothing: the runtime handles whole batches.
    return Handler(handle, inline=not enricher.has_sources)


SPEC: StageSpec[schemas.RawAlert, EnricherSettings] = StageSpec(
    name="enricher",
    input_subject=schemas.RAW,
    input_type=schemas.RawAlert,
    output_subject=schemas.ENRICHED,
    build=build,
)
