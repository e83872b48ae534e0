"""The enricher's own settings, which every source shares: the evidence window, its budgets, and how
HTTP queries are timed, retried and cached. Each source's settings live in its module (``_source``)."""

from __future__ import annotations

from typing import Annotated

from services.runtime import StageSettings, doc


class SharedSettings(StageSettings, kw_only=True, frozen=True):
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 8001

    time_window_minutes: Annotated[float, doc("Minutes of evidence before and after the alert start")] = 15.0
    max_metrics_points: Annotated[int, doc("Points kept per series after down-sampling")] = 100
    max_series_per_query: Annotated[
        int, doc("Series kept per query, most telling first; the rest are counted")
    ] = 10
    max_queries_per_alert: Annotated[int, doc("Upper bound on PromQL queries in one alert's plan")] = 24
    max_log_lines: Annotated[
        int, doc("Log lines one Loki query returns; a busy window reads at most twice that")
    ] = 500
    max_log_templates: Annotated[int, doc("Log templates kept per alert, most severe first")] = 40
    log_char_budget: Annotated[int, doc("Characters of log templates and samples kept per alert")] = 6000
    enrichment_packs_dir: Annotated[
        str,
        doc(
            "Folder of query pack YAML files added to the built-in packs (a pack named as a built-in one"
            " replaces it, `disabled: true` removes it); empty: the built-in packs"
        ),
    ] = ""
    query_timeout_seconds: Annotated[float, doc("Timeout of one HTTP query to Prometheus or Loki")] = 5.0
    query_attempts: Annotated[
        int, doc("Attempts per query for timeouts, 429 and 5xx (a 400 is never retried)")
    ] = 3
    enrichment_deadline_seconds: Annotated[float, doc("Time one alert's enrichment may take in all")] = 20.0
    query_concurrency: Annotated[int, doc("Queries in flight at once, per backend, across all alerts")] = 8
    redact_patterns: Annotated[
        str,
        doc(
            "Site-specific secret patterns redacted besides the built-in ones: a JSON list of regular "
            "expressions or one per line; a pattern's first group, if any, is what is replaced"
        ),
    ] = ""
    query_cache_seconds: Annotated[
        float, doc("Identical queries within this many seconds share one answer")
    ] = 30.0
