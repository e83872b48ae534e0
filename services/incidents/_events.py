"""An incident told: its contract view (``schemas.Incident``), its next event, and the state once sent."""

from __future__ import annotations

from datetime import datetime

import msgspec

import schemas
from services.incidents._lifecycle import IncidentState, pend


def title(state: IncidentState) -> str:
    root = state.root
    name, where = "incident", ""
    if root is not None:
        name = root.alertname
        place = next(filter(root.labels.__contains__, _PLACES), None)
        if place is not None:
            where = f"{place}={root.labels[place]}"
    others = state.member_count - 1
    more = f" and {others} related alert{'s' if others != 1 else ''}" if others > 0 else ""
    return f"{name}{f' on {where}' if where else ''}{more}"


_PLACES = ("node", "instance", "service", "deployment", "statefulset", "pod", "namespace", "cluster")


def incident(state: IncidentState) -> schemas.Incident:
    """The contract's view of the incident: root first, then members by start time."""
    root = state.root
    others = sorted((m for m in state.members if root is None or m.alert_id != root.alert_id), key=_start)
    return schemas.Incident(
        id=state.id,
        status=state.status,
        title=title(state),
        severity=state.severity,
        opened_at=state.opened_at,
        updated_at=state.updated_at,
        resolved_at=state.resolved_at,
        scope=state.scope,
        root=root,
        members=([root] if root is not None else []) + others,
        member_count=state.member_count,
        firing_count=state.firing_count,
        alertnames=state.alertnames,
        analysis=state.analysis,
        llm_calls=state.llm_calls,
    )


def _start(member: schemas.IncidentMember) -> datetime:
    return member.starts_at


def event(
    state: IncidentState, kind: schemas.IncidentEventKind, now: datetime
) -> tuple[IncidentState, schemas.IncidentEvent]:
    """The next event of the incident, and the state once it is sent."""
    pending: list[schemas.IncidentChange] = list(state.pending)
    status, resolved_at = state.status, state.resolved_at
    if kind == "resolved":
        status, resolved_at = "resolved", now
        pending = pend(pending, "resolved")
    elif kind == "opened":
        pending = ["opened"]
    sent = msgspec.structs.replace(
        state,
        status=status,
        resolved_at=resolved_at,
        grace_until=None if kind == "resolved" else state.grace_until,
        updated_at=now,
        sequence=state.sequence + 1,
        analysed_generation=state.generation,
        last_event_at=now,
        pending=[],
        changed_at={},
    )
    # Every root change since the last event kept the root's subject: said more precisely, not moved.
    moved = state.root_moved_at
    refined = "root" in pending and moved is not None and moved <= state.analysed_generation
    message = schemas.IncidentEvent(
        event=kind,
        sequence=sent.sequence,
        changes=pending,
        root_refined=refined,
        incident=incident(sent),
        sent_at=now,
    )
    return sent, message


def after_sent(current: IncidentState, sent: IncidentState) -> IncidentState:
    """``current`` (changed by members while the event ``sent`` was made and published) with that
    event recorded; changes newer than the event stay pending for the next one."""
    generation = sent.analysed_generation
    resolving = sent.status == "resolved" and current.status == "open"
    reopened = resolving and current.firing_count > 0
    # What the event told stays told: only changes that happened after its state was read stay pending.
    pending = [change for change in current.pending if current.changed_at.get(change, 0) > generation]
    changed_at = {change: current.changed_at[change] for change in pending}
    if reopened:
        pending = pend(pending, "reopened")
        changed_at["reopened"] = current.generation + 1
    return msgspec.structs.replace(
        current,
        status="open" if reopened else sent.status,
        resolved_at=None if reopened else sent.resolved_at,
        grace_until=None if resolving else current.grace_until,
        sequence=max(current.sequence, sent.sequence),
        analysed_generation=max(current.analysed_generation, generation),
        analysed_members=sent.analysed_members,
        analyses=sent.analyses,
        llm_calls=sent.llm_calls,
        analysis=sent.analysis,
        last_event_at=sent.last_event_at,
        pending=pending,
        changed_at=changed_at,
        generation=current.generation + int(reopened),
    )
