"""The enricher stage: for each alert, the metrics and logs that explain it, compact enough for an LLM.

_source                    the interface every source implements (how to write one: its docstring)
_sources                   the registry: every source, in one list
_settings                  EnricherSettings: _shared_settings' and every registered source's, read as one
_prometheus                metrics: the Prometheus API and its source, running the plan
_loki / _loki_source       logs: Loki's API and its source
_elasticsearch             logs: Elasticsearch/OpenSearch ``_search`` as a source
_backend                   HTTP for every source: auth, retries (Retry-After), deadline, cache, error kinds
_plan / _packs / _promql   which PromQL runs for an alert (YAML query packs)
_summary / _downsample     a time series as numbers and readable events
_streams                   which log streams belong to an alert, most specific identity first
_logs                      which lines of the window, and which templates come first
_templates                 log lines clustered into templates
_enrich                    one alert's enrichment: every source's jobs within a deadline, merged
"""

from services.enricher._build import SPEC, build, make_enricher
from services.enricher._enrich import Enricher, Limits, alert_window
from services.enricher._errors import BadQuery, PackError, SourceError, TransientSourceError
from services.enricher._packs import QueryPack, load_packs, parse_packs
from services.enricher._plan import Plan, PlannedQuery, build_plan
from services.enricher._settings import EnricherSettings
from services.enricher._source import Source
from services.enricher._sources import SOURCES
from services.enricher._summary import summarise
from services.enricher._templates import cluster, severity_of, template_of

__all__ = [
    "SOURCES",
    "SPEC",
    "BadQuery",
    "Enricher",
    "EnricherSettings",
    "Limits",
    "PackError",
    "Plan",
    "PlannedQuery",
    "QueryPack",
    "Source",
    "SourceError",
    "TransientSourceError",
    "alert_window",
    "build",
    "build_plan",
    "cluster",
    "load_packs",
    "make_enricher",
    "parse_packs",
    "severity_of",
    "summarise",
    "template_of",
]
