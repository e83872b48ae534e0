"""Messages to rows: what each table keeps of an analysis, an incident event and a verdict.

Upserts by id, so a redelivery or a replay rewrites the same row: an alert keeps its latest analysis,
an incident its latest event (by ``sequence``), a target its latest verdict (by ``given_at``).
Text a person or a sender controls is clipped with a visible marker before it is stored.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec

import schemas
from services.history._db import Batch, Params, Searchable

# One label or annotation value kept in full up to this many characters (a 10 MB annotation is clipped).
MAX_VALUE_CHARS = 16_384
# What free-text search reads of one row.
MAX_SEARCH_CHARS = 4_096
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
M = TypeVar("M")


def micros(moment: datetime) -> int:
    return (moment.astimezone(UTC) - EPOCH) // MICROSECOND


def moment(value: int) -> datetime:
    return EPOCH + value * MICROSECOND


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [clipped: {len(text) - limit} more characters not stored]"


def _clip_values(values: dict[str, str]) -> dict[str, str]:
    if all(len(value) <= MAX_VALUE_CHARS for value in values.values()):
        return values
    return {key: clip(value) for key, value in values.items()}


def clipped(message: schemas.AnalyzedAlert) -> schemas.AnalyzedAlert:
    """The message with every over-long label and annotation value clipped (the same object when none is)."""
    alert = message.alert
    labels, annotations = _clip_values(alert.labels), _clip_values(alert.annotations)
    if labels is alert.labels and annotations is alert.annotations:
        return message
    alert = msgspec.structs.replace(alert, labels=labels, annotations=annotations)
    return msgspec.structs.replace(message, alert=alert)


def body(message: msgspec.Struct) -> bytes:
    """What the ``body`` column holds: the message's JSON, compressed (fast level: a 9 KB analysis takes
    1.5 KB, so a row needs no overflow pages and a million analyses fit in a couple of GB)."""
    return zlib.compress(schemas.encode(message), 1)


def message_of(stored: bytes, kind: type[M]) -> M:
    return schemas.decode(zlib.decompress(stored), kind)


def service_of(labels: dict[str, str]) -> str:
    return labels.get("service") or labels.get("app") or labels.get("job") or ""


ALERT_COLUMNS = (
    "id, received_at, analyzed_at, starts_at, ends_at, fingerprint, alertname, status, severity, namespace,"
    " service, category, summary, analyzer, degraded, incident_id, confidence, llm_calls, prompt_tokens,"
    " completion_tokens, search_text, body"
)


def _upsert(table: str, columns: str, newer: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    key = names[0]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
    marks = ", ".join("?" for _ in names)
    stored = ", ".join(f"{table}.{name}" for name in names[1:])
    proposed = ", ".join(f"excluded.{name}" for name in names[1:])
    # A redelivery or a replay brings the row as stored: rewriting it would change nothing but cost a new
    # row version, on PostgreSQL with an entry in every index too (its page is full: no in-place update).
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({key}) DO UPDATE SET {updates}"
        f" WHERE {newer} AND ({stored}) IS DISTINCT FROM ({proposed})"
    )


ALERT_UPSERT = _upsert("alerts", ALERT_COLUMNS, "excluded.analyzed_at >= alerts.analyzed_at")


def alert_row(message: schemas.AnalyzedAlert) -> Params:
    message = clipped(message)
    alert, analysis = message.alert, message.analysis
    labels = alert.labels
    alertname = labels.get("alertname", "")
    search = " ".join(
        (alertname, " ".join(labels.values()), analysis.summary, analysis.root_cause,
         alert.annotations.get("summary", ""), alert.annotations.get("description", ""))
    )  # fmt: skip
    return (
        message.id,
        micros(message.received_at),
        micros(message.analyzed_at),
        micros(alert.starts_at),
        None if alert.ends_at is None else micros(alert.ends_at),
        alert.fingerprint or schemas.label_fingerprint(labels),
        alertname,
        alert.status,
        labels.get("severity", ""),
        labels.get("namespace", ""),
        service_of(labels),
        analysis.category,
        clip(analysis.summary, 1000),
        analysis.analyzer,
        int(analysis.degraded),
        "" if message.incident is None else message.incident.id,
        analysis.confidence,
        int(analysis.analyzer == "llm" and not analysis.reused),
        analysis.prompt_tokens,
        analysis.completion_tokens,
        search[:MAX_SEARCH_CHARS],
        body(message),
    )


INCIDENT_COLUMNS = (
    "id, sequence, status, title, severity, opened_at, updated_at, resolved_at, category, summary,"
    " member_count, firing_count, llm_calls, degraded, search_text, body"
)
INCIDENT_UPSERT = _upsert("incidents", INCIDENT_COLUMNS, "excluded.sequence >= incidents.sequence")


def incident_row(event: schemas.IncidentEvent) -> Params:
    incident = event.incident
    analysis = incident.analysis
    summary = "" if analysis is None else analysis.summary
    cause = "" if analysis is None else analysis.root_cause
    names = " ".join(incident.alertnames)
    search = " ".join((incident.title, " ".join(incident.scope.values()), names, summary, cause))
    return (
        incident.id,
        event.sequence,
        incident.status,
        clip(incident.title, 1000),
        incident.severity,
        micros(incident.opened_at),
        micros(incident.updated_at),
        None if incident.resolved_at is None else micros(incident.resolved_at),
        "" if analysis is None else analysis.category,
        clip(summary, 1000),
        incident.member_count,
        incident.firing_count,
        incident.llm_calls,
        int(incident.degraded or (analysis is not None and analysis.degraded)),
        search[:MAX_SEARCH_CHARS],
        body(event),
    )


FEEDBACK_COLUMNS = "target_id, id, target, verdict, category, corrected_category, given_at, body"
FEEDBACK_UPSERT = _upsert("feedback", FEEDBACK_COLUMNS, "excluded.given_at >= feedback.given_at")


def feedback_row(verdict: schemas.Feedback) -> Params:
    return (
        verdict.target_id,
        verdict.id,
        verdict.target,
        verdict.verdict,
        verdict.category,
        verdict.corrected_category or "",
        micros(verdict.given_at),
        body(verdict),
    )


def _storable(row: Params) -> Params:
    """PostgreSQL's text cannot hold NUL: a label carrying one must not make its alert unstorable."""
    if not any(isinstance(value, str) and "\x00" in value for value in row):
        return row
    return tuple(value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in row)


def newest(rows: list[Params], version: int) -> list[Params]:
    """One row per key (column 0): the one the upsert would keep (highest ``version`` column, the later
    of equals), as if they were written one after another."""
    kept: dict[Any, Params] = {}
    for row in rows:
        held = kept.get(row[0])
        if held is None or row[version] >= held[version]:
            kept[row[0]] = row
    return list(kept.values()) if len(kept) < len(rows) else rows


def write_batch(
    alerts: list[schemas.AnalyzedAlert],
    incidents: list[schemas.IncidentEvent],
    feedback: list[schemas.Feedback],
) -> Batch:
    """The statements of one transaction writing these messages, each key once."""
    return [
        Searchable("alerts", ALERT_UPSERT, newest([_storable(alert_row(message)) for message in alerts], 2)),
        Searchable("incidents", INCIDENT_UPSERT, newest([_storable(incident_row(e)) for e in incidents], 1)),
        (FEEDBACK_UPSERT, newest([_storable(feedback_row(verdict)) for verdict in feedback], 6)),
    ]
