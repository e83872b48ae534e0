"""An incident's members as the history knows them: the incident's page and every list of incidents
count what still fires by this one rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

import schemas
from services.history._rows import AlertRow


def ended_by_id(alerts: Sequence[AlertRow]) -> dict[str, datetime]:
    """When the firing ones of these alerts ended, by id: those whose resolution the history holds."""
    return {row.id: row.ended_at for row in alerts if row.status == "firing" and row.ended_at is not None}


def as_the_history_knows(
    incident: schemas.Incident, ended: Mapping[str, datetime]
) -> tuple[list[schemas.IncidentMember], int]:
    """The listed members, and how many still fire, with the resolutions the history holds.

    ``ended``: when the incident's firing alerts whose resolution the history holds ended, by id
    (``ended_by_id``). The analyst announces an incident when a member joins, its cause changes or every
    member resolved, not each time one resolves: the last event's "23/23 firing" stayed after 21 had
    resolved. A member the event lists as firing whose resolution the history has since is shown
    resolved, and counted so.
    """
    members, resolved_since = [], 0
    for member in incident.members:
        ended_at = ended.get(member.alert_id) if member.status == "firing" else None
        if ended_at is not None:
            member = msgspec.structs.replace(member, status="resolved", ends_at=ended_at)
            resolved_since += 1
        members.append(member)
    return members, max(0, incident.firing_count - resolved_since)
