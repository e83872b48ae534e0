"""What a review that fell due makes of an incident: the one decision the analyst's ``incidents``
consumer and the storm simulation (``_simulate.py``) both take, so the benchmark scores the lifecycle
the pipeline runs."""

from __future__ import annotations

from datetime import datetime

import msgspec

import schemas
from services.incidents._index import OpenIndex
from services.incidents._lifecycle import IncidentState
from services.runtime import RetryLater


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
