"""Incidents: the alerts one cause raised, grouped, analysed once and notified once.

Incident events live in the ``ALERTS`` stream beside the alerts (one retention, one replay):

    IncidentEvent   alerts.incidents.opened    first analysis of a new incident, after the grouping wait
                    alerts.incidents.updated   new members, a new root, severity up, re-analysis, reopened
                    alerts.incidents.resolved  every member resolved, and the grace period passed
    IncidentReviews alerts.review              internal work: incidents fall due for (re)analysis or for
                                               resolution; the analyst's ``incidents`` consumer takes them

Each event carries the whole incident as it stands (members summarised, counts kept), so a subscriber
needs no earlier event. ``sequence`` counts an incident's events from 1: the notifier's ledger and
JetStream's de-duplication key on ``(incident id, sequence)``, so every event is delivered once.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas._alertmanager import AlertStatus, LabelSet
from schemas._analysis import Analysis
from schemas._messages import SCHEMA_VERSION, MemberRole, Replay, UtcTime

IncidentStatus = Literal["open", "resolved"]
IncidentEventKind = Literal["opened", "updated", "resolved"]
# Why an event was sent; an ``updated`` event names every change since the previous event.
IncidentChange = Literal["opened", "members", "root", "severity", "analysis", "resolved", "reopened"]

# Members listed in full in an event; beyond this the event keeps counts only, so a storm of 50,000
# alerts never grows one message past a destination's limits.
MAX_LISTED_MEMBERS = 50


class IncidentMember(msgspec.Struct, kw_only=True, frozen=True):
    """One alert of an incident, as a reader of the incident needs it."""

    alert_id: str
    alertname: str
    status: AlertStatus
    severity: str = ""
    starts_at: UtcTime
    ends_at: UtcTime | None = None
    # The labels that place the alert (cluster, namespace, service, pod, node, instance, ...).
    labels: LabelSet = {}
    summary: str = ""
    role: MemberRole = "related"
    signals: list[str] = []


class Incident(msgspec.Struct, kw_only=True, frozen=True):
    """An incident as it stands."""

    id: str
    status: IncidentStatus
    title: str
    # The highest severity among the members.
    severity: str = ""
    opened_at: UtcTime
    updated_at: UtcTime
    resolved_at: UtcTime | None = None
    # Where it happens: the labels every member shares (cluster, namespace, node, service...).
    scope: LabelSet = {}
    root: IncidentMember | None = None
    # At most MAX_LISTED_MEMBERS, root first, then by start time; counts below cover every member.
    members: list[IncidentMember] = []
    member_count: int = 0
    firing_count: int = 0
    # Alert name -> members of that name, every member counted.
    alertnames: dict[str, int] = {}
    analysis: Analysis | None = None
    # LLM calls made for this incident so far (bounded by the analyst's settings).
    llm_calls: int = 0
    # True when the incident store was unavailable and this is a one-alert incident by necessity.
    degraded: bool = False


class IncidentEvent(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.incidents.<event>``: one change of an incident, carrying all of it."""

    schema: int = SCHEMA_VERSION
    event: IncidentEventKind
    # 1 for ``opened``, then +1 for each event of this incident.
    sequence: int
    changes: list[IncidentChange] = []
    # With "root" in ``changes``: the new root alert is about what the previous one was about (a node's
    # memory pressure after its memory warning), the cause said more precisely rather than another one.
    # A destination that cannot edit its message need not post for it.
    root_refined: bool = False
    incident: Incident
    sent_at: UtcTime
    replay: Replay | None = None

    @property
    def id(self) -> str:
        """The event's own id (what de-duplication and the notifier's ledger key on)."""
        return f"{self.incident.id}:{self.sequence}"


IncidentReviewKind = Literal["analyse", "resolve"]


class IncidentReview(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.review``: an incident to look at again once ``due`` has passed."""

    schema: int = SCHEMA_VERSION
    id: str  # the incident's id
    kind: IncidentReviewKind
    # Which state of the incident asked for it: a review of an older generation does nothing.
    generation: int
    due: UtcTime
    requested_at: UtcTime
    replay: Replay | None = None


class IncidentReviews(msgspec.Struct, kw_only=True, frozen=True):
    """``alerts.review``: the reviews one batch of alerts asked for, due about together (a flood's
    batch opens an incident per alert: one message for them, not one each)."""

    schema: int = SCHEMA_VERSION
    reviews: list[IncidentReview]

    @property
    def id(self) -> str:
        """What logs and dead letters name the message by: its first incident, and how many more."""
        first = self.reviews[0].id if self.reviews else "no incident"
        return first if len(self.reviews) < 2 else f"{first} and {len(self.reviews) - 1} more"
