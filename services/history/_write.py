"""Messages to rows: what each table keeps of an analysis, an incident event and a verdict.

Upserts by id, so a redelivery or a replay rewrites the same row: an alert keeps its latest analysis,
an incident its latest event (by ``sequence``), a target its latest verdict (by ``given_at``).
Text a person or a sender controls is clipped with a visible marker before it is stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import msgspec

import schemas
from services.history._db import Batch, Params, Searchable, without_nul

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


# A body up to this many bytes is stored as the JSON it is; a longer one, zlib-compressed. On a short
# analysis (2 KB: no metric or log evidence) zlib costs more CPU than the bytes it saves cost the database
# (40 µs against 10-15 µs a row, docs/benchmarks.md "History"), and the row still fits in a page; a long
# one (9 KB of metric points and log templates) compresses to 1.5 KB, which pays on both counts.
COMPRESS_ABOVE = 4096


def body(data: bytes) -> bytes:
    """What the ``body`` column holds for a message's JSON: as is when short and starting with "{" (as
    ``message_of`` tells them apart), else compressed (fast level: no overflow pages)."""
    return data if len(data) <= COMPRESS_ABOVE and data[:1] == b"{" else zlib.compress(data, 1)


def message_of(stored: bytes, kind: type[M]) -> M:
    # A zlib stream never starts with "{" (its first byte is 0x?8), so rows of either kind, and those of
    # versions that compressed every body, read alike.
    return schemas.decode(stored if stored[:1] == b"{" else zlib.decompress(stored), kind)


def stored_json(
    message: schemas.AnalyzedAlert, data: bytes | None = None
) -> tuple[schemas.AnalyzedAlert, bytes]:
    """The message as stored (over-long values clipped) and its JSON: ``data``, the bytes it arrived as,
    when it is short. No value is longer than the whole text: a short one is not looked into. A long
    one is encoded again, clipped or not, so that fields the contract does not know (a newer sender's)
    cannot make a row as large as they like."""
    if data is None:
        data = schemas.encode(message)
    if len(data) > MAX_VALUE_CHARS:
        kept = clipped(message)
        return kept, schemas.encode(kept)
    return message, data


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


def alert_row(message: schemas.AnalyzedAlert, data: bytes | None = None) -> Params:
    """``data``: the message's JSON as received, stored as it is unless a value is clipped."""
    message, data = stored_json(message, data)
    alert, analysis = message.alert, message.analysis
    labels = alert.labels
    alertname = labels.get("alertname", "")
    search = " ".join(
        (alertname, " ".join(labels.values()), analysis.summary, analysis.root_cause,
         alert.annotations.get("summary", ""), alert.annotations.get("description", ""))
    )  # fmt: skip
    row = (
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
        schemas.service_of(labels),
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
        body(data),
    )
    return _storable(row, data)


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
    data = schemas.encode(event)
    row = (
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
        body(data),
    )
    return _storable(row, data)


FEEDBACK_COLUMNS = "target_id, id, target, verdict, category, corrected_category, given_at, body"
FEEDBACK_UPSERT = _upsert("feedback", FEEDBACK_COLUMNS, "excluded.given_at >= feedback.given_at")


def feedback_row(verdict: schemas.Feedback) -> Params:
    data = schemas.encode(verdict)
    row = (
        verdict.target_id,
        verdict.id,
        verdict.target,
        verdict.verdict,
        verdict.category,
        verdict.corrected_category or "",
        micros(verdict.given_at),
        body(data),
    )
    return _storable(row, data)


def _storable(row: Params, data: bytes) -> Params:
    """PostgreSQL's text cannot hold NUL: a label carrying one must not make its alert unstorable.
    ``data``, the message's JSON, holds every text of the row: without a NUL (JSON writes it ``\\u0000``)
    there, the row has none."""
    return row if b"\\u0000" not in data else tuple(without_nul(row))


def newest(rows: list[Params], version: int) -> list[Params]:
    """One row per key (column 0): the one the upsert would keep (highest ``version`` column, the later
    of equals), as if they were written one after another."""
    kept: dict[Any, Params] = {}
    for row in rows:
        held = kept.get(row[0])
        if held is None or row[version] >= held[version]:
            kept[row[0]] = row
    return list(kept.values()) if len(kept) < len(rows) else rows


class Received(NamedTuple):
    """An analysis with the JSON it arrived as (the stage's messages): stored without encoding it again."""

    message: schemas.AnalyzedAlert
    data: bytes

    @property
    def id(self) -> str:
        return self.message.id


def _alert_row(item: schemas.AnalyzedAlert | Received) -> Params:
    return alert_row(item.message, item.data) if isinstance(item, Received) else alert_row(item)


# The resolutions of row ``a``'s episode (fingerprint and start): one lookup in the index alerts_episode.
RESOLUTIONS_OF_A = (
    "FROM alerts r"
    " WHERE r.fingerprint = a.fingerprint AND r.starts_at = a.starts_at AND r.status = 'resolved'"
)
# When they say row ``a``'s episode ended; NULL while none arrived.
ENDED_BY_RESOLUTION = f"(SELECT MAX(COALESCE(r.ends_at, r.received_at)) {RESOLUTIONS_OF_A})"
# Each episode a resolution of the batch ends: its firing row learns when. A firing row stored after its
# resolution (rare: deliveries out of order) is found by the reads instead, so that a batch of firing
# alerts, nearly every batch, costs nothing more to write. Joined to the episodes as a VALUES list
# (PostgreSQL sends many in one statement): the equality on each column of alerts_episode finds the row
# in one lookup, where a row-value IN was taken for a scan of every firing row.
MARK_ENDED = (
    f"UPDATE alerts AS a SET ended_at = {ENDED_BY_RESOLUTION} FROM (VALUES (?, ?)) AS episode"
    " WHERE a.fingerprint = episode.column1 AND a.starts_at = episode.column2 AND a.status = 'firing'"
    f" AND a.ended_at IS DISTINCT FROM {ENDED_BY_RESOLUTION}"
)


def _ended_episodes(rows: list[Params]) -> list[Params]:
    """The (fingerprint, start) of each episode the batch's resolutions end, once."""
    return list(dict.fromkeys((row[5], row[3]) for row in rows if row[7] == "resolved"))


def write_batch(
    alerts: Sequence[schemas.AnalyzedAlert | Received],
    incidents: list[schemas.IncidentEvent],
    feedback: list[schemas.Feedback],
) -> Batch:
    """The statements of one transaction writing these messages, each key once."""
    alert_rows = newest([_alert_row(item) for item in alerts], 2)
    return [
        Searchable("alerts", ALERT_UPSERT, alert_rows),
        (MARK_ENDED, _ended_episodes(alert_rows)),
        Searchable("incidents", INCIDENT_UPSERT, newest([incident_row(event) for event in incidents], 1)),
        (FEEDBACK_UPSERT, newest([feedback_row(verdict) for verdict in feedback], 6)),
    ]
