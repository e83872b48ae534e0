"""Wiring: settings → HTTP session, backends, packs, the Enricher, and its counters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry, Counter

import schemas
from schemas import EnrichedAlert, RawAlert
from services.enricher._backend import Backend, BackendConfig, parse_headers
from services.enricher._cache import TtlCache
from services.enricher._enrich import Enricher, Limits
from services.enricher._logs import LogLimits, LogReader
from services.enricher._loki import Loki, parse_label_map
from services.enricher._packs import PackError, load_packs
from services.enricher._prometheus import Prometheus
from services.enricher._settings import EnricherSettings
from services.privacy import Redactor, configured_redactor
from services.runtime import ConfigError, InlineHandler, Runtime, StageSpec


def limits_from(settings: EnricherSettings) -> Limits:
    return Limits(
        window_minutes=settings.time_window_minutes,
        max_metrics_points=settings.max_metrics_points,
        max_series_per_query=settings.max_series_per_query,
        max_queries=settings.max_queries_per_alert,
        deadline_seconds=settings.enrichment_deadline_seconds,
    )


def log_limits_from(settings: EnricherSettings) -> LogLimits:
    return LogLimits(
        max_lines=settings.max_log_lines,
        max_templates=settings.max_log_templates,
        char_budget=settings.log_char_budget,
    )


def events_selector(setting: str) -> str:
    """LOKI_EVENTS_SELECTOR as LogQL, or "" when switched off; a stray value stops the start."""
    selector = setting.strip()
    if selector.lower() in ("off", "none", "false"):
        return ""
    if not (selector.startswith("{") and selector.endswith("}")):
        raise ConfigError(
            f'LOKI_EVENTS_SELECTOR must be a LogQL stream selector such as {{job="kubernetes-events"}} '
            f"or off (got {selector[:80]!r})"
        )
    return selector


def backend_configs(settings: EnricherSettings) -> tuple[BackendConfig | None, BackendConfig | None]:
    """The Prometheus and Loki configs, None for a source whose URL is not set."""
    common = {"timeout_seconds": settings.query_timeout_seconds, "attempts": settings.query_attempts}
    prometheus = loki = None
    if settings.prometheus_url:
        try:
            headers = parse_headers(settings.prometheus_headers)
        except ValueError as exc:
            raise ConfigError(f"PROMETHEUS_HEADERS: {exc}") from exc
        prometheus = BackendConfig(
            source="prometheus",
            url=settings.prometheus_url,
            username=settings.prometheus_username,
            password=settings.prometheus_password,
            bearer_token=settings.prometheus_bearer_token,
            headers=headers,
            verify_tls=settings.prometheus_verify_tls,
            **common,  # type: ignore[arg-type]
        )
    if settings.loki_url:
        loki = BackendConfig(
            source="loki",
            url=settings.loki_url,
            username=settings.loki_username,
            password=settings.loki_password,
            bearer_token=settings.loki_bearer_token,
            headers={"X-Scope-OrgID": settings.loki_tenant} if settings.loki_tenant else {},
            verify_tls=settings.loki_verify_tls,
            **common,  # type: ignore[arg-type]
        )
    return prometheus, loki


def make_enricher(
    settings: EnricherSettings, session: aiohttp.ClientSession, redactor: Redactor | None = None
) -> Enricher:
    """Everything but NATS; raises ConfigError for a setting or pack that cannot work. ``redactor`` replaces
    the one REDACT_PATTERNS gives (the benchmark's baseline)."""
    try:
        packs = load_packs(Path(settings.enrichment_packs_dir) if settings.enrichment_packs_dir else None)
    except PackError as exc:
        raise ConfigError(f"ENRICHMENT_PACKS_DIR: {exc}") from exc
    try:
        label_map = parse_label_map(settings.loki_label_map)
    except ValueError as exc:
        raise ConfigError(f"LOKI_LABEL_MAP: {exc}") from exc
    redactor = redactor or configured_redactor(settings.redact_patterns)
    cache = TtlCache(settings.query_cache_seconds)
    prometheus_config, loki_config = backend_configs(settings)

    def backend(config: BackendConfig) -> Backend:
        return Backend(config, session, asyncio.Semaphore(settings.query_concurrency), cache)

    events = events_selector(settings.loki_events_selector)
    logs = None
    if loki_config:
        logs = LogReader(Loki(backend(loki_config)), label_map, events, log_limits_from(settings))
    return Enricher(
        limits_from(settings),
        packs,
        Prometheus(backend(prometheus_config)) if prometheus_config else None,
        logs,
        redactor=redactor,
    )


def count_errors(registry: CollectorRegistry) -> Callable[[EnrichedAlert], None]:
    errors = Counter(
        "aiops_enrichment_errors_total",
        "Sources that could not contribute to an alert's evidence",
        ["source", "error_type"],
        registry=registry,
    )

    children: dict[tuple[str, str], Counter] = {}

    def record(enriched: EnrichedAlert) -> None:
        for error in enriched.evidence.errors:
            key = (error.source, "not_configured" if "is not set" in error.reason else "failed")
            child = children.get(key)
            if child is None:
                # A label lookup per error is measurable when every alert records two.
                child = children[key] = errors.labels(*key)
            child.inc()

    return record


async def build(
    settings: EnricherSettings, runtime: Runtime
) -> Callable[[RawAlert], Awaitable[EnrichedAlert]] | InlineHandler:
    session = aiohttp.ClientSession()
    runtime.on_close(session.close)
    try:
        enricher = make_enricher(settings, session)
    except ConfigError:
        await session.close()
        raise
    record = count_errors(runtime.registry)
    if not enricher.has_sources:

        def handle_without_sources(raw: RawAlert) -> EnrichedAlert:
            enriched = enricher.handle_without_sources(raw)
            record(enriched)
            return enriched

        return InlineHandler(handle_without_sources)

    async def handle(raw: RawAlert) -> EnrichedAlert:
        enriched = await enricher.handle(raw)
        record(enriched)
        return enriched

    return handle


SPEC: StageSpec[schemas.RawAlert, EnricherSettings] = StageSpec(
    name="enricher",
    input_subject=schemas.RAW,
    input_type=schemas.RawAlert,
    output_subject=schemas.ENRICHED,
    build=build,
)
