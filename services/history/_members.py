"""An incident's members as the history knows them: the incident's page and every list of incidents
count what still fires by this one rule."""

from __future__ import annotations

from datetime import datetime

import msgspec

import schemas


class Known(msgspec.Struct, kw_only=True, frozen=True):
    """What the history holds of an incident's members beyond its last event (``History.members_known``)."""

    # When its listed firing members whose resolution the history holds ended, by id.
    ended: dict[str, datetime] = {}
    # How many of all its members, listed or not, ended: its firing rows whose resolution arrived.
    ended_count: int = 0
    # How many alert rows the history holds of the incident (its page lists the first 1,000).
    alerts: int = 0


def as_the_history_knows(
    incident: schemas.Incident, known: Known
) -> tuple[list[schemas.IncidentMember], int]:
    """The listed members, and how many still fire, with the resolutions the history holds (``known``).

    The analyst announces an incident when a member joins, its cause changes or every member resolved,
    not each time one resolves: the last event's "23/23 firing" stayed after 21 had resolved. A member
    the event lists as firing whose resolution the history has since is shown resolved, and counted so.
    An event lists at most 50 members (``schemas.MAX_LISTED_MEMBERS``): in a storm most members resolve
    unlisted, and no more of them can fire than the members not ended. Both counts only lower the
    event's: a member whose resolution has not reached the history counts as firing.
    """
    members, resolved_since = [], 0
    for member in incident.members:
        ended_at = known.ended.get(member.alert_id) if member.status == "firing" else None
        if ended_at is not None:
            member = msgspec.structs.replace(member, status="resolved", ends_at=ended_at)
            resolved_since += 1
        members.append(member)
    firing = min(incident.firing_count - resolved_since, incident.member_count - known.ended_count)
    return members, max(0, firing)
