"""The messages on every subject of the ``ALERTS`` stream.

Each message carries ``schema`` (its version). Decoders ignore unknown fields,
so a newer producer never breaks an older consumer; a breaking change bumps
``schema``.

    RawAlert        alerts.raw       one alert as ingest received it
      EnrichedAlert alerts.enriched  + evidence (metrics, logs, errors)
        AnalyzedAlert alerts.analyzed + analysis (+ the incident it belongs to)
    DeadLetter      alerts.dead      what a stage could not process, and why

Incident events and reviews are in ``schemas._incidents``, feedback in ``schemas._feedback``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from schemas._alertmanager import Alert, LabelSet
from schemas._analysis import Analysis

SCHEMA_VERSION = 1

Source = Literal["alertmanager", "manual"]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class GroupContext(msgspec.Struct, kw_only=True, frozen=True):
    """The Alertmanager notification group an alert arrived in."""

    receiver: str = ""
    group_key: str = ""
    group_labels: LabelSet = {}
    common_labels: LabelSet = {}
    external_url: str = ""


class Replay(msgspec.Struct, kw_only=True, frozen=True):
    """Marks a message that an operator fed back through the pipeline."""

    id: str
    requested_at: UtcTime
    reanalyze: bool = False
    notify: bool = False


class RawAlert(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.raw``: one alert, one message (never one per webhook)."""

    schema: int = SCHEMA_VERSION
    id: str
    alert: Alert
    group: GroupContext = GroupContext()
    source: Source = "alertmanager"
    received_at: UtcTime
    replay: Replay | None = None
    # True when ingest already removed the secrets of ``alert`` and ``group``: the enricher then redacts only
    # the evidence it adds (redacting every label twice doubled the cost of a cheap stage).
    redacted: bool = False


class SeriesSummary(msgspec.Struct, kw_only=True, frozen=True):
    """One time series over the enrichment window, summarised for a reader."""

    labels: LabelSet
    samples: int
    min: float
    max: float
    mean: float
    last: float
    at_start: float | None = None
    before: float | None = None
    change_abs: float | None = None
    change_pct: float | None = None
    trend_per_min: float = 0.0
    # Readable findings such as "spike to 0.98 at 10:03:00Z" or "level shift +40% at ...".
    events: list[str] = []
    # Down-sampled [unix_seconds, value] pairs, at most MAX_METRICS_POINTS.
    points: list[tuple[float, float]] = []


class MetricEvidence(msgspec.Struct, kw_only=True, frozen=True):
    """The result of one Prometheus query of the enrichment plan."""

    name: str
    query: str
    series: list[SeriesSummary] = []
    total_series: int = 0
    # Series left out to keep the evidence small; never a silent truncation.
    omitted_series: int = 0


LogSeverity = Literal["error", "warning", "info"]
# The order logs are read in, most severe first.
LOG_SEVERITY_RANK: dict[LogSeverity, int] = {"error": 0, "warning": 1, "info": 2}


class LogTemplate(msgspec.Struct, kw_only=True, frozen=True):
    """Log lines that differ only in numbers, ids and quoted values."""

    template: str
    count: int
    severity: LogSeverity
    first: UtcTime
    last: UtcTime
    sample: str


class LogSource(msgspec.Struct, kw_only=True, frozen=True):
    """One log stream read for the evidence: the workload's own lines or its Kubernetes events."""

    # "workload" (the alert's pod, container, service or host) or "events".
    name: str
    # The stream selector that found the lines, e.g. {namespace="shop", pod="api-0"}, or the
    # backend's own query (an Elasticsearch query as JSON).
    selector: str
    # The enrichment source that read them ("loki", "elasticsearch", ...); messages older than the
    # field only ever came from Loki.
    backend: str = "loki"
    lines: int = 0
    # More specific selectors that matched no stream in the window, tried first.
    tried: list[str] = []


class LogEvidence(msgspec.Struct, kw_only=True, frozen=True):
    """Log lines around the alert, clustered into templates."""

    query: str
    lines: int
    templates: list[LogTemplate] = []
    omitted_templates: int = 0
    # Where the lines came from, of every log source the enricher read (Loki, Elasticsearch, ...);
    # the templates of all of them are clustered and ranked together, within one budget.
    sources: list[LogSource] = []


class SourceErrorKind(enum.StrEnum):
    """Why an enrichment source gave no evidence, a bounded set the analyst and metrics read."""

    NOT_CONFIGURED = "not_configured"  # its settings are not set: the deployment runs without it
    UNREACHABLE = "unreachable"  # no connection (refused, DNS, TLS)
    TIMEOUT = "timeout"  # no answer within the query timeout or the enrichment deadline
    REJECTED = "rejected"  # 401, 403, 404 (unknown index or path) and other 4xx: a setting is wrong
    BAD_QUERY = "bad_query"  # 400/422: the backend refused the query itself
    RATE_LIMITED = "rate_limited"  # 429 until the deadline
    UNAVAILABLE = "unavailable"  # 5xx, or a failure older messages did not classify
    BAD_ANSWER = "bad_answer"  # 200 with a body the backend's API does not document
    NO_MATCH = "no_match"  # the alert names nothing this source holds (no stream, no label to map)


class EnrichmentError(msgspec.Struct, kw_only=True, frozen=True):
    """A source that could not contribute evidence, and why."""

    source: str
    reason: str
    query: str = ""
    kind: SourceErrorKind = SourceErrorKind.UNAVAILABLE


class Evidence(msgspec.Struct, kw_only=True, frozen=True):
    """What the enricher found around the alert's time."""

    window_start: UtcTime | None = None
    window_end: UtcTime | None = None
    metrics: list[MetricEvidence] = []
    logs: LogEvidence | None = None
    errors: list[EnrichmentError] = []


class EnrichedAlert(RawAlert, kw_only=True, frozen=True):
    """``alerts.enriched``: the raw message plus its evidence."""

    evidence: Evidence = Evidence()
    enriched_at: UtcTime


# How an alert relates to its incident: the alert naming the cause, alerts it explains, and alerts
# grouped by a weaker signal (same group key, override label, time and place).
MemberRole = Literal["root", "caused", "related"]


class IncidentRef(msgspec.Struct, kw_only=True, frozen=True):
    """The incident an alert belongs to (``schemas._incidents``), and its part in it."""

    id: str
    role: MemberRole
    # The signals that put the alert in the incident, e.g. ["node", "time"]; empty for the root.
    signals: list[str] = []


class AnalyzedAlert(EnrichedAlert, kw_only=True, frozen=True):
    """``alerts.analyzed``: self-contained for any subscriber."""

    analysis: Analysis
    analyzed_at: UtcTime
    # Set when incidents are on (``INCIDENTS_ENABLED``); the incident's own events are on alerts.incidents.*.
    incident: IncidentRef | None = None


# ``DeadLetter.error_type`` of a message its stage could not decode: resent unchanged, it fails again.
UNDECODABLE = "decode"


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.dead``: a message a stage gave up on, with enough to redrive it."""

    schema: int = SCHEMA_VERSION
    subject: str
    stage: str
    error: str
    error_type: str
    attempts: int
    failed_at: UtcTime
    # The original payload: as text when it is UTF-8, otherwise base64.
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    msg_id: str = ""
    stream_seq: int = 0
    # True when the letter with its payload would be over the server's max_payload: ``payload`` is
    # empty, and the original is read from the stream at ``stream_seq`` while the stream keeps it.
    payload_omitted: bool = False


class ManualAlertRequest(msgspec.Struct, kw_only=True, frozen=True):
    """Body of ``POST /analyze``: an alert typed by a person or a script."""

    labels: LabelSet
    annotations: LabelSet = {}
    starts_at: UtcTime | None = msgspec.field(default=None, name="startsAt")
    generator_url: str = msgspec.field(default="", name="generatorURL")


def _fields(message: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(message, name) for name in message.__struct_fields__}


def enriched(raw: RawAlert, evidence: Evidence, enriched_at: datetime) -> EnrichedAlert:
    """The next stage's message: everything ``raw`` carried, plus its evidence."""
    return EnrichedAlert(**_fields(raw), evidence=evidence, enriched_at=enriched_at)


def analyzed(
    message: EnrichedAlert, analysis: Analysis, analyzed_at: datetime, incident: IncidentRef | None = None
) -> AnalyzedAlert:
    """The next stage's message: everything ``message`` carried, plus its analysis and its incident."""
    return AnalyzedAlert(**_fields(message), analysis=analysis, analyzed_at=analyzed_at, incident=incident)
