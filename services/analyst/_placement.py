"""Where the alerts of a batch go, given their membership records: the pure part of ``_incidents``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec

import schemas
from services.incidents import Joining, MemberRecord, OpenIndex

Joins = dict[str, list[tuple[schemas.EnrichedAlert, Joining]]]


@dataclass(frozen=True)
class Placed:
    """An alert's place: its incident, or why it has none (``degraded``); ``early``: a resolution that
    came before its firing alert was counted (claimed, not marked yet), to come back once it is."""

    ref: schemas.IncidentRef | None = None
    degraded: str = ""
    early: bool = False


def member_of(message: schemas.EnrichedAlert) -> schemas.IncidentMember:
    alert = message.alert
    return schemas.IncidentMember(
        alert_id=message.id,
        alertname=alert.labels.get("alertname", ""),
        status=alert.status,
        severity=alert.labels.get("severity", ""),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        labels={key: value for key, value in alert.labels.items() if key != "alertname"},
        summary=alert.annotations.get("summary", ""),
    )


def rejoining(episode: str, record: MemberRecord, indexes: Mapping[str, OpenIndex]) -> Joining:
    """A member known from its record (claimed earlier, by this replica or another).

    Its record says "root" when it opened the incident or became its root at the time; it takes the
    root only while its shard's index still names it so (``IndexEntry.root_alert``). A redelivered
    opener would otherwise take the root back from the alert that explained it, and each such member
    counted after the root would announce a new root of its own. Not the root, it is one of the members
    the root explains ("caused"): an incident lists one root."""
    new_root = record.role == "root" and root_in(indexes.get(record.shard), record.incident) == episode
    role: schemas.MemberRole = "caused" if record.role == "root" and not new_root else record.role
    return Joining(episode, record.incident, role, tuple(record.signals), new_root=new_root)


def root_in(index: OpenIndex | None, incident: str) -> str:
    """The episode the index names the incident's root ("" when the index no longer has it)."""
    entries = index.entries if index is not None else []
    return next((entry.root_alert for entry in entries if entry.id == incident), "")


def rejoined_roots(
    live: list[schemas.EnrichedAlert], records: dict[str, MemberRecord | None], joinings: dict[str, Joining]
) -> set[str]:
    """The shards whose index ``sort_out`` reads: those of root members to count from their records."""
    shards = set()
    for message in live:
        episode = schemas.episode_key(message.alert)
        record = records[episode]
        if record is not None and record.role == "root" and not record.counted and episode not in joinings:
            shards.add(record.shard)
    return shards


def ref(record: MemberRecord | None) -> schemas.IncidentRef | None:
    if record is None:
        return None
    return schemas.IncidentRef(id=record.incident, role=record.role, signals=list(record.signals))


def early(message: schemas.EnrichedAlert, record: MemberRecord | None, joining: bool) -> bool:
    """A resolution whose firing alert is claimed but not counted yet (its batch still writing, or
    killed before it counted; ``joining``: counted by this batch): applying it now would count a
    resolution of a member the incident does not have, and skipping it would leave the member firing
    once its batch is done."""
    return (
        message.alert.status == "resolved"
        and record is not None
        and not record.counted
        and not record.resolved
        and not joining
    )


def sort_out(
    live: list[schemas.EnrichedAlert],
    records: dict[str, MemberRecord | None],
    joinings: dict[str, Joining],
    when: Callable[[schemas.Alert], datetime],
    indexes: Mapping[str, OpenIndex],
) -> tuple[Joins, dict[str, list[schemas.EnrichedAlert]]]:
    """Per incident, the members to count (firing, not counted yet) and the resolutions to apply.

    Joins come in the order the correlator placed them (``when``, then episode), so the alert that
    opened an incident joins before a root that arrived in the same batch. ``indexes``: at least the
    shards of ``rejoined_roots``.
    """
    joins: Joins = defaultdict(list)
    resolves: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
    for message in live:
        episode = schemas.episode_key(message.alert)
        record = records[episode]
        if record is None:
            continue
        if message.alert.status == "firing" and not record.counted:
            joining = joinings.get(episode) or rejoining(episode, record, indexes)
            if all(episode != j.episode for _, j in joins[record.incident]):
                joins[record.incident].append((message, joining))
        elif (
            message.alert.status == "resolved"
            and not record.resolved
            and (record.counted or episode in joinings)
        ):
            resolves[record.incident].append(message)
    for listed in joins.values():
        listed.sort(key=lambda item: (when(item[0].alert), item[1].episode))
    return joins, resolves


def marked(
    records: dict[str, MemberRecord | None], joins: Joins, resolves: dict[str, list[schemas.EnrichedAlert]]
) -> dict[str, MemberRecord]:
    """The membership records once this batch's joins and resolutions are counted."""
    changed: dict[str, MemberRecord] = {}
    for listed in joins.values():
        for _, joining in listed:
            record = records[joining.episode]
            if record is not None:
                changed[joining.episode] = msgspec.structs.replace(record, counted=True)
    for messages in resolves.values():
        for message in messages:
            episode = schemas.episode_key(message.alert)
            record = changed.get(episode) or records[episode]
            if record is not None:
                changed[episode] = msgspec.structs.replace(record, counted=True, resolved=True)
    return changed
