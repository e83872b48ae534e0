"""What the history answers with, and what it is asked: row types, filters, pages, statistics.

Rows are the columns a list shows; the whole message (``History.alert``) is fetched by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class AlertRow(msgspec.Struct, kw_only=True, frozen=True):
    """One analysed alert message, as a list shows it."""

    id: str
    received_at: datetime
    alertname: str
    status: str
    severity: str
    namespace: str
    service: str
    category: str
    summary: str
    analyzer: str
    degraded: bool
    incident_id: str
    confidence: float
    # The verdict given on this alert ("confirmed" or "corrected"), "" when none.
    feedback: str = ""
    # Of a firing alert whose resolution arrived since (a firing and its resolution are two rows): when
    # that resolution says it ended. None while it is still firing, and on a resolution's own row.
    ended_at: datetime | None = None
    # The title of the incident the alert belongs to, "" when none (or not in the history).
    incident_title: str = ""
    # What the firing and the resolution of one episode share (``schemas.episode_key``).
    episode: str = ""


class IncidentRow(msgspec.Struct, kw_only=True, frozen=True):
    """One incident at its latest event, as a list shows it."""

    id: str
    sequence: int
    status: str
    title: str
    severity: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    category: str
    summary: str
    member_count: int
    firing_count: int
    llm_calls: int
    degraded: bool
    feedback: str = ""


class Page(msgspec.Struct, Generic[T], kw_only=True, frozen=True):
    """One page of a list, newest first; ``next_cursor`` asks for the following page (None: last)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class AlertQuery:
    """Filters of the alert list; each one left None (or "") does not filter."""

    since: datetime | None = None
    until: datetime | None = None
    severity: str = ""
    category: str = ""
    service: str = ""
    namespace: str = ""
    status: str = ""
    analyzer: str = ""
    degraded: bool | None = None
    # Free text: every word must appear (whole words) in the alert's name, labels, summary or cause.
    text: str = ""
    incident_id: str = ""
    # Leaves out the alerts of this incident (recall: its own outage is not memory of another).
    not_incident_id: str = ""
    # Only firing alerts no resolution has ended yet: what is still broken (``status`` alone matches the
    # firing row of every episode, resolved since or not).
    still_firing: bool = False
    limit: int = DEFAULT_LIMIT
    # A page's ``next_cursor``: rows strictly older than it.
    before: str | None = None


@dataclass(frozen=True)
class IncidentQuery:
    """Filters of the incident list (on ``updated_at``); each one left None (or "") does not filter."""

    since: datetime | None = None
    until: datetime | None = None
    severity: str = ""
    category: str = ""
    status: str = ""
    degraded: bool | None = None
    text: str = ""
    limit: int = DEFAULT_LIMIT
    before: str | None = None


class DayStats(msgspec.Struct, kw_only=True, frozen=True):
    """One UTC day of history."""

    day: str  # YYYY-MM-DD
    alerts: int
    incidents: int
    degraded: int
    # degraded / alerts, 0.0 on a day without alerts.
    degraded_share: float
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    categories: dict[str, int] = {}


class CategoryPrecision(msgspec.Struct, kw_only=True, frozen=True):
    """How often people confirmed the analyses of one category (from feedback)."""

    category: str
    confirmed: int
    corrected: int
    # confirmed / (confirmed + corrected).
    precision: float


class Stats(msgspec.Struct, kw_only=True, frozen=True):
    """The stats page: per day, categories over the period, time to resolve, precision."""

    days: list[DayStats]
    categories: dict[str, int]
    # Firing to resolution of the incidents resolved in the period (seconds); None without any.
    resolve_seconds_p50: float | None
    resolve_seconds_p90: float | None
    precision: list[CategoryPrecision]


class RuleNoise(msgspec.Struct, kw_only=True, frozen=True):
    """One alert rule's noise over the period: what to tune."""

    alertname: str
    # Firing messages (episodes).
    fired: int
    # Episodes of a series (fingerprint) that had fired before in the period.
    flapped: int
    # Resolutions that came within five minutes of the firing.
    resolved_quickly: int
    # Firing messages nobody gave a verdict on.
    without_feedback: int
