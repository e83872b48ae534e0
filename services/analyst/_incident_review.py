"""The pure steps of an incident's review in the analyst: the state once its event is sent, and the index
once it resolved (which event a review makes is services/incidents/_review.py's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from loguru import logger

from services.incidents import IncidentState, OpenIndex, after_sent, resolved_in
from services.runtime import RetryLater

Change = Callable[[IncidentState | None], IncidentState | None]


def recorded(current: IncidentState | None, sent: IncidentState, duplicate: bool) -> IncidentState | None:
    if current is None:
        return None
    if current.sequence >= sent.sequence:
        # Another replica sent this sequence first; ours was dropped as its duplicate. Come back
        # and send what it did not cover as the next event.
        raise RetryLater("a concurrent review sent this event", delay=1.0, error_type="concurrent")
    if duplicate:
        # Before a crash, or sent again after its answer was lost (``_kv.RESEND_SECONDS``).
        logger.info("incident {} event {} was published already; recording it", sent.id, sent.sequence)
    return after_sent(current, sent)


def resolving(incident_id: str, now: datetime) -> Callable[[OpenIndex], OpenIndex | None]:
    return lambda index: resolved_in(index, incident_id, now)
