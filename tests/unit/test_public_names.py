"""Each package's public names, exactly: what ``__all__`` promises is what the package offers, and no more.

A name added to or dropped from a package's surface is a decision, so it shows here as an edit to the
expected set (httpx's ``tests/test_exported_members.py`` does the same). Every package of schemas/,
services/ and infra/ is listed: a new package needs its line.
"""

from __future__ import annotations
import __future__

import importlib
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("schemas", "services", "infra")

EXPECTED: dict[str, frozenset[str]] = {
    "schemas": frozenset(
        {
            "FEEDBACK",
            "INCIDENT_OPENED",
            "INCIDENT_RESOLVED",
            "INCIDENT_UPDATED",
            "INCIDENTS",
            "REVIEW",
            "MAX_FEEDBACK_TEXT",
            "MAX_LISTED_MEMBERS",
            "Feedback",
            "FeedbackChannel",
            "FeedbackTarget",
            "Verdict",
            "Incident",
            "IncidentChange",
            "IncidentEvent",
            "IncidentEventKind",
            "IncidentMember",
            "IncidentReview",
            "IncidentReviews",
            "IncidentReviewKind",
            "IncidentStatus",
            "IncidentRef",
            "MemberRole",
            "incident_subject",
            "ANALYZED",
            "CATEGORIES",
            "DEAD",
            "ENRICHED",
            "GO_ZERO_TIME",
            "LOG_SEVERITY_RANK",
            "MSG_ID_HEADER",
            "RAW",
            "SCHEMA_VERSION",
            "SHORT_ID_CHARS",
            "STREAM",
            "STREAM_SUBJECTS",
            "UNDECODABLE",
            "AGENT_WORDS",
            "Alert",
            "AlertStatus",
            "AlertmanagerWebhook",
            "Analysis",
            "AnalyzedAlert",
            "Analyzer",
            "Category",
            "DeadLetter",
            "DecodeError",
            "EnrichedAlert",
            "EnrichmentError",
            "Evidence",
            "Explanation",
            "GroupContext",
            "LabelSet",
            "LogEvidence",
            "LogSeverity",
            "LogSource",
            "LogTemplate",
            "ManualAlertRequest",
            "MetricEvidence",
            "RawAlert",
            "Replay",
            "SeriesEvent",
            "SeriesSummary",
            "Source",
            "SourceErrorKind",
            "Unit",
            "ValidationError",
            "alert_id",
            "analyzed",
            "decode",
            "duration",
            "encode",
            "enriched",
            "episode_key",
            "episode_of",
            "firing_id",
            "label_fingerprint",
            "manual_id",
            "number",
            "quantity",
            "service_of",
            "names_an_agent",
            "NODE_AGENT_JOBS",
            "short_id",
            "unit_of",
        }
    ),
    "services": frozenset(),
    "services.runtime": frozenset(
        {
            "ApiError",
            "CONFIG_ERROR_EXIT",
            "CONSUMERS",
            "AsyncHandler",
            "Backlog",
            "ConfigError",
            "Handler",
            "MessageTooLarge",
            "NatsSettings",
            "PubAck",
            "PublishFailed",
            "Publisher",
            "Reject",
            "RetryLater",
            "Runtime",
            "SettingsPart",
            "StageMetrics",
            "StageSettings",
            "StageSpec",
            "add_health_routes",
            "add_trace_context",
            "close_connection",
            "configure_logging",
            "connect",
            "consumer_config",
            "current_delivery",
            "current_trace_id",
            "describe",
            "doc",
            "ensure_stream",
            "help_text",
            "key_value_bucket",
            "load",
            "load_or_exit",
            "masked",
            "nats_readiness",
            "per_registry",
            "output_msg_id",
            "provision",
            "refuse_if_too_large",
            "run_service",
            "run_stage",
            "serve_stage",
            "setup_tracing",
            "stage_main",
            "start_http",
            "stream_config",
            "trace_http_status",
            "traced_post",
            "traced_request",
            "tracing_enabled",
            "with_parts",
        }
    ),
    "services.ingest": frozenset(
        {
            "Authenticator",
            "BadRequest",
            "Ingest",
            "IngestSettings",
            "parse_manual",
            "parse_webhook",
            "run_ingest",
            "serve_ingest",
        }
    ),
    "services.console": frozenset(
        {"Access", "Console", "ConsoleSettings", "User", "hash_password", "run_console", "serve_console"}
    ),
    "services.history": frozenset(
        {
            "AlertQuery",
            "AlertRow",
            "BadCursor",
            "CategoryPrecision",
            "DayStats",
            "History",
            "HistorySettings",
            "HistoryUnavailable",
            "IncidentQuery",
            "IncidentRow",
            "Known",
            "Memory",
            "Page",
            "Recalled",
            "RuleNoise",
            "Stats",
            "as_the_history_knows",
            "is_cursor",
            "recall",
        }
    ),
    "services.enricher": frozenset(
        {
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
        }
    ),
    "services.analyst": frozenset(
        {
            "SPEC",
            "SYSTEM_PROMPT",
            "Analyst",
            "AnalystMetrics",
            "AnalystSettings",
            "Anonymizer",
            "BreakerOpen",
            "BudgetExhausted",
            "Catalogue",
            "CircuitBreaker",
            "EpisodeCache",
            "InvalidAnswer",
            "LlmAnalyst",
            "LlmAnswer",
            "LocalTally",
            "RateLimiter",
            "RetryAfterTooLong",
            "RulesAnalyst",
            "SharedTally",
            "TokenBudget",
            "build",
            "build_prompt",
            "cache_key",
            "estimate_tokens",
            "load_catalogue",
            "parse_answer",
        }
    ),
    "services.analyst.eval": frozenset(
        {
            "DEFAULT_DIR",
            "Expected",
            "Outcome",
            "Report",
            "Scenario",
            "build_message",
            "load_scenarios",
        }
    ),
    "services.notifier": frozenset(
        {
            "SIGNATURE_HEADER",
            "SPEC",
            "TIMESTAMP_HEADER",
            "AlertView",
            "Destination",
            "Ledger",
            "LinkSettings",
            "Notifier",
            "NotifierMetrics",
            "NotifierSettings",
            "Router",
            "Target",
            "build",
            "delivery_key",
            "load_routes",
            "open_ledger",
            "pagerduty_event",
            "parse_routes",
            "router_from",
            "signature",
            "single_route",
            "slack_message",
            "summary_lines",
            "teams_message",
            "view",
        }
    ),
    "services.incidents": frozenset(
        {
            "EXEMPLAR_SLOTS",
            "Assignment",
            "Conflicted",
            "Correlator",
            "EntryTooLarge",
            "Exemplar",
            "IncidentSettings",
            "IncidentState",
            "IncidentStore",
            "IndexEntry",
            "Joining",
            "Journal",
            "LogEntry",
            "MemberRecord",
            "NumbersAlike",
            "OpenIndex",
            "Reads",
            "ShardView",
            "Topology",
            "after_sent",
            "event",
            "event_kind",
            "incident",
            "incident_id",
            "join",
            "load_topology",
            "material",
            "new_review",
            "not_due",
            "resolve_member",
            "resolved_in",
            "review_due",
            "lone_numbers",
            "salient",
            "shard_of",
            "with_analysis",
        }
    ),
    "services.privacy": frozenset(
        {
            "Redactor",
            "configured_redactor",
            "parse_patterns",
            "placeholder",
            "redact",
            "redact_alert",
            "redact_labels",
            "redact_message",
            "redact_pair",
            "redact_value",
            "redactor_from",
        }
    ),
    "services.cli": frozenset(
        {
            "main",
        }
    ),
    "infra": frozenset(),
    "infra.kubernetes": frozenset(
        {
            "Values",
            "ValuesError",
            "chart_values",
            "load_values",
            "problems",
            "render",
            "to_yaml",
        }
    ),
    "infra.local": frozenset(
        {
            "Child",
            "LocalPorts",
            "StackError",
            "render_alertmanager",
            "render_prometheus",
            "stop",
        }
    ),
}
# Packages whose __init__ is more than re-exports: its working names (imports it uses) are not on offer.
WITH_OWN_CODE = {"services.cli"}


def _packages() -> set[str]:
    found = set()
    for root in ROOTS:
        for init in (REPO / root).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(REPO).parts))
    return found


def _namespace(module: types.ModuleType) -> set[str]:
    """The names a reader of the package sees: neither private, nor submodules, nor ``from __future__``."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType | __future__._Feature)
    }


def test_every_package_is_listed() -> None:
    assert _packages() == set(EXPECTED)


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_all_is_exactly_the_expected_names(package: str) -> None:
    module = importlib.import_module(package)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{package} declares no __all__"
    assert len(declared) == len(set(declared)), f"{package}.__all__ lists a name twice"
    assert sorted(set(declared) - EXPECTED[package]) == [], f"{package}: new in __all__, not expected"
    assert sorted(EXPECTED[package] - set(declared)) == [], f"{package}: expected, gone from __all__"


@pytest.mark.parametrize("package", sorted(EXPECTED))
def test_every_name_in_all_is_importable(package: str) -> None:
    imported: dict[str, object] = {}
    exec(f"from {package} import *", imported)  # what a star import gives is what __all__ promises
    assert set(imported) - {"__builtins__"} == EXPECTED[package]
    module = importlib.import_module(package)
    assert all(getattr(module, name) is imported[name] for name in EXPECTED[package])


@pytest.mark.parametrize("package", sorted(set(EXPECTED) - WITH_OWN_CODE))
def test_a_package_offers_nothing_its_all_leaves_out(package: str) -> None:
    """A name imported into ``__init__`` but left out of ``__all__`` is public by accident."""
    assert _namespace(importlib.import_module(package)) == EXPECTED[package]
