"""The pure steps of an incident's review: which event it makes, and the state once that event is sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
from loguru import logger

import schemas
from services.incidents import IncidentState, OpenIndex, after_sent
from services.runtime import RetryLater

Change = Callable[[IncidentState | None], IncidentState | None]


def not_due(reason: str, due: datetime, now: datetime) -> RetryLater:
    return RetryLater(reason, delay=(due - now).total_seconds(), error_type="not_due", expected=True)


def event_kind(
    review: schemas.IncidentReview, state: IncidentState | None, now: datetime
) -> schemas.IncidentEventKind | None:
    """The event a due review makes of the incident as it stands (None: no event); RetryLater when
    the incident's grace is not over."""
    if state is None or state.status != "open":
        return None
    if review.kind == "resolve":
        if state.firing_count > 0 or state.grace_until is None or state.sequence == 0:
            return None  # firing again, or not opened yet: the review that state asks for does the work
        if state.grace_until > now:
            raise not_due("grace not over", state.grace_until, now)
        return "resolved"
    if state.analysed_generation >= state.generation:
        return None  # announced already (a redelivered or second review)
    return "opened" if state.sequence == 0 else "updated"


def recorded(current: IncidentState | None, sent: IncidentState, duplicate: bool) -> IncidentState | None:
    if current is None:
        return None
    if current.sequence >= sent.sequence:
        # Another replica sent this sequence first; ours was dropped as its duplicate. Come back
        # and send what it did not cover as the next event.
        raise RetryLater("a concurrent review sent this event", delay=1.0, error_type="concurrent")
    if duplicate:
        logger.info("incident {} event {} was published before a crash; recording it", sent.id, sent.sequence)
    return after_sent(current, sent)


def resolving(incident_id: str, now: datetime) -> Callable[[OpenIndex], OpenIndex | None]:
    return lambda index: resolved_in(index, incident_id, now)


def resolved_in(index: OpenIndex, incident_id: str, now: datetime) -> OpenIndex | None:
    """The index learns the incident resolved: only a related alert within the reopen window joins it."""
    if all(entry.id != incident_id for entry in index.entries):
        return None  # pruned already
    entries = [
        msgspec.structs.replace(entry, status="resolved", resolved_at=now)
        if entry.id == incident_id
        else entry
        for entry in index.entries
    ]
    return OpenIndex(entries=entries)
