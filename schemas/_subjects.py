"""Subject and stream names: the addresses of the contract."""

from __future__ import annotations

from typing import Final

STREAM: Final = "ALERTS"
STREAM_SUBJECTS: Final = ("alerts.>",)

RAW: Final = "alerts.raw"
ENRICHED: Final = "alerts.enriched"
ANALYZED: Final = "alerts.analyzed"
DEAD: Final = "alerts.dead"
# Incident events (``IncidentEvent``), one subject per event kind, and their wildcard.
INCIDENTS: Final = "alerts.incidents.>"
INCIDENT_OPENED: Final = "alerts.incidents.opened"
INCIDENT_UPDATED: Final = "alerts.incidents.updated"
INCIDENT_RESOLVED: Final = "alerts.incidents.resolved"
# Incidents falling due for (re)analysis or resolution (``IncidentReviews``): internal work.
REVIEW: Final = "alerts.review"
# A person's verdict on an analysis (``Feedback``).
FEEDBACK: Final = "alerts.feedback"

# Header carrying the deterministic id JetStream de-duplicates on.
MSG_ID_HEADER: Final = "Nats-Msg-Id"


def incident_subject(event: str) -> str:
    """``alerts.incidents.<event>`` for an ``IncidentEvent.event``."""
    return f"alerts.incidents.{event}"
