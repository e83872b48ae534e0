"""An incident's life as pure state transitions: members join and resolve, events fall due.

    opened ──members, root, severity──> updated ──every member resolved + grace──> resolved
       ^                                                                             │
       └───────────── a related alert fires within INCIDENT_REOPEN_SECONDS ─────────┘ (updated, "reopened")

``generation`` counts changes that may need an event; a review (``schemas.IncidentReview``) falls
due and turns every change since the last event into one event (``_events``). Joins and resolutions
remembered (``applied`` keeps the recent ones) are idempotent; ``_simulate`` relies on it. The
incidents' log needs none of it: it writes a batch whole or not at all, a redelivered alert finds its
membership there, ``place`` takes each alert once per batch and remembers nothing, and no state in
the log carries ``applied``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

import schemas
from services.incidents._settings import IncidentSettings

# Operations remembered for idempotency (``applied``): more than the joins one incident sees in a
# simulation's run (``_simulate``) between two of an alert's messages.
APPLIED_KEPT = 2048
EXEMPLAR_SLOTS = 5  # the root's, and up to 4 other distinct alert names
SEVERITY_RANK = {
    "info": 1,
    "low": 1,
    "warning": 2,
    "minor": 2,
    "high": 3,
    "error": 3,
    "major": 3,
    "critical": 4,
}
# Labels that say what an alert is, not where it happens: never part of an incident's scope.
NOT_SCOPE = frozenset({"alertname", "severity", "priority"})


class Joining(msgspec.Struct, frozen=True):
    """What a member brings to its incident (an ``Assignment``'s part, or a membership record's)."""

    episode: str
    incident_id: str
    role: schemas.MemberRole
    signals: tuple[str, ...] = ()
    new_root: bool = False
    refines: bool = False  # the new root is about the old root's subject (``Assignment.refines``)
    sequence: int = 0  # where the stream keeps the member's enriched message (0: not known)


class Exemplar(msgspec.Struct, kw_only=True, frozen=True):
    """A member whose enriched message the incident's analysis reads (slot 0: the root): by its
    sequence in the alerts' stream, which keeps it for STREAM_MAX_AGE_HOURS (a gap after that). 0: a
    replica of the version before kept it in the incident bucket instead (``IncidentStore``)."""

    alertname: str
    episode: str
    sequence: int = 0


class IncidentState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An incident as its store keeps it (key ``incident.<id>``)."""

    id: str
    status: schemas.IncidentStatus = "open"
    shard: str = "_"  # the index the incident is matched in
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    generation: int = 0  # +1 on every change that may need an event
    sequence: int = 0  # events sent so far (the next event is sequence+1)
    analysed_generation: int = 0  # the generation the last event covered
    analysed_members: int = 0  # member_count at the last analysis
    analyses: int = 0
    llm_calls: int = 0
    last_event_at: datetime | None = None
    root: schemas.IncidentMember | None = None
    members: list[schemas.IncidentMember] = []  # at most schemas.MAX_LISTED_MEMBERS, root kept
    member_count: int = 0
    firing_count: int = 0
    alertnames: dict[str, int] = {}
    severity: str = ""
    scope: dict[str, str] = {}
    analysis: schemas.Analysis | None = None
    pending: list[schemas.IncidentChange] = []  # changes not yet in an event
    changed_at: dict[str, int] = {}  # pending change -> the generation it last happened at
    # The generation the root last went to another subject (not a refinement); None when unknown (a
    # state written before this field, or by a replica that does not know it): taken as moved.
    root_moved_at: int | None = None
    grace_until: datetime | None = None  # every member resolved: resolve after this
    exemplars: list[Exemplar] = []
    # recent joins and resolutions, newest last (idempotency); never written to the log
    applied: list[str] = []


def rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.lower(), 0)


def pend(
    pending: list[schemas.IncidentChange], change: schemas.IncidentChange
) -> list[schemas.IncidentChange]:
    return pending if change in pending else [*pending, change]


def _op(episode: str, kind: str = "") -> str:
    """A join's or a resolution's key in ``applied``: never written to the log (``place`` remembers
    nothing), so it needs no hash to be short."""
    return episode + kind


def _applied(state: IncidentState, op: str) -> list[str]:
    return [*state.applied[-(APPLIED_KEPT - 1) :], op]


def join(
    state: IncidentState | None,
    member: schemas.IncidentMember,
    joining: Joining,
    now: datetime,
    *,
    shard: str = "_",
    remembered: bool = True,
) -> IncidentState:
    """``member`` added to the incident (a new one when ``state`` is None); a no-op when already added.
    ``remembered``: whether ``applied`` keeps it so; a caller that takes each alert once (``place``)
    leaves it out."""
    if state is None:
        state = IncidentState(
            id=joining.incident_id, shard=shard, opened_at=now, updated_at=now, root_moved_at=0
        )
    op = _op(joining.episode)
    if remembered and op in state.applied:
        return state
    opening = state.member_count == 0
    made: list[schemas.IncidentChange] = ["opened" if opening else "members"]
    status, resolved_at = state.status, state.resolved_at
    if status == "resolved":
        status, resolved_at = "open", None
        made.append("reopened")
    severity = state.severity
    if rank(member.severity) > rank(severity):
        severity = member.severity
        if not opening:
            made.append("severity")
    labels = {key: value for key, value in member.labels.items() if key not in NOT_SCOPE}
    scope = labels if opening else {k: v for k, v in state.scope.items() if labels.get(k) == v}
    member = msgspec.structs.replace(member, role=joining.role, signals=list(joining.signals))
    root, members, exemplars = state.root, list(state.members), list(state.exemplars)
    exemplar = Exemplar(alertname=member.alertname, episode=joining.episode, sequence=joining.sequence)
    root_moved_at = state.root_moved_at
    if root is None or joining.new_root:
        if root is not None:
            made.append("root")
            if not joining.refines:
                root_moved_at = state.generation + 1
            demoted = root.alert_id
            members = [
                msgspec.structs.replace(m, role="caused") if m.alert_id == demoted else m for m in members
            ]
        root = member = msgspec.structs.replace(member, role="root")
        if len(members) >= schemas.MAX_LISTED_MEMBERS:
            members.pop()  # the newest listed member gives way: the root is always listed
        if exemplars and _keeps_a_slot(exemplars, member.alertname):
            exemplars.append(exemplars[0])  # the old root stays an exemplar of its alert name
        exemplars[:1] = [exemplar]
    elif len(exemplars) < EXEMPLAR_SLOTS and all(e.alertname != member.alertname for e in exemplars):
        exemplars.append(exemplar)
    if len(members) < schemas.MAX_LISTED_MEMBERS:
        members.append(member)
    alertnames = dict(state.alertnames)
    alertnames[member.alertname] = alertnames.get(member.alertname, 0) + 1
    generation = state.generation + 1
    pending = state.pending
    for change in made:
        pending = pend(pending, change)
    return msgspec.structs.replace(
        state,
        status=status,
        resolved_at=resolved_at,
        updated_at=now,
        generation=generation,
        changed_at={**state.changed_at, **dict.fromkeys(made, generation)},
        root_moved_at=root_moved_at,
        root=root,
        members=members,
        member_count=state.member_count + 1,
        firing_count=state.firing_count + 1,
        alertnames=alertnames,
        severity=severity,
        scope=scope,
        pending=pending,
        grace_until=None,
        exemplars=exemplars,
        applied=_applied(state, op) if remembered else state.applied,
    )


def _keeps_a_slot(exemplars: list[Exemplar], new_root: str) -> bool:
    """Whether the root's exemplar, giving slot 0 to a new root named ``new_root``, moves to a slot of
    its own: a free slot, a name no other exemplar has, and a sequence to find it by (one the
    version before copied to its slot's key stays there, to be replaced)."""
    old = exemplars[0]
    names = {e.alertname for e in exemplars[1:]} | {new_root}
    return bool(old.sequence) and len(exemplars) < EXEMPLAR_SLOTS and old.alertname not in names


def resolve_member(
    state: IncidentState,
    episode: str,
    ends_at: datetime | None,
    now: datetime,
    settings: IncidentSettings,
    *,
    remembered: bool = True,
) -> IncidentState:
    """The member of ``episode`` resolved; when it was the last one firing, the grace period starts.
    ``remembered``: as ``join``'s."""
    op = _op(episode, "/resolved")
    if (remembered and op in state.applied) or state.status == "resolved":
        return state
    alert_id = schemas.firing_id(episode)
    ended = ends_at or now

    def resolved(member: schemas.IncidentMember) -> schemas.IncidentMember:
        if member.alert_id != alert_id:
            return member
        return msgspec.structs.replace(member, status="resolved", ends_at=ended)

    firing = max(0, state.firing_count - 1)
    root = resolved(state.root) if state.root is not None else None
    grace_until, generation = state.grace_until, state.generation
    if firing == 0 and state.grace_until is None:
        grace_until = now + timedelta(seconds=settings.incident_resolve_grace_seconds)
        generation += 1
    return msgspec.structs.replace(
        state,
        root=root,
        members=[resolved(member) for member in state.members],
        firing_count=firing,
        grace_until=grace_until,
        generation=generation,
        updated_at=now,
        applied=_applied(state, op) if remembered else state.applied,
    )


# Changes a person must hear of at once; more members wait for the next batched update.
URGENT: frozenset[schemas.IncidentChange] = frozenset({"root", "severity", "reopened"})


# What changes the explanation itself: another alert now names the cause, or the incident came back.
# Severity up and more members of the same kinds are facts the event carries (counts, severity) without
# asking the model again: on the storm benchmark re-analysing on them cost a third more LLM calls for
# answers that named the same cause.
REANALYSE: frozenset[schemas.IncidentChange] = frozenset({"root", "reopened"})


def material(state: IncidentState) -> bool:
    """Worth a new analysis: a new root, or reopened."""
    return bool(REANALYSE & set(state.pending))


def review_due(
    state: IncidentState, settings: IncidentSettings, now: datetime
) -> schemas.IncidentReview | None:
    """The review the state asks for, or None when it needs no event.

    An incident is always opened before it resolves, even when all its members resolved within
    the grouping wait: a reader never sees the end of an incident whose start it was not told.
    """
    if state.status == "resolved":
        return None
    gathered = state.opened_at + timedelta(seconds=settings.incident_group_wait_seconds)
    if state.sequence > 0 and state.firing_count == 0 and state.grace_until is not None:
        return _review(state, "resolve", state.grace_until, now)
    if state.generation <= state.analysed_generation:
        return None
    if state.sequence == 0 or URGENT & set(state.pending) or state.last_event_at is None:
        return _review(state, "analyse", max(gathered, now), now)
    batched = state.last_event_at + timedelta(seconds=settings.incident_update_seconds)
    return _review(state, "analyse", max(batched, now), now)


def new_review(
    before: IncidentState | None, after: IncidentState, settings: IncidentSettings, now: datetime
) -> schemas.IncidentReview | None:
    """The review to publish after a change from ``before`` to ``after``: None when the review
    ``before`` asked for is still on its way and falls due as early (it covers the change too, as a
    review looks at the incident as it stands when due)."""
    wanted = review_due(after, settings, now)
    waiting = review_due(before, settings, now) if before is not None else None
    if wanted is None or waiting is None:
        return wanted
    return wanted if wanted.kind != waiting.kind or wanted.due < waiting.due else None


def _review(
    state: IncidentState, kind: schemas.IncidentReviewKind, due: datetime, now: datetime
) -> schemas.IncidentReview:
    return schemas.IncidentReview(
        id=state.id, kind=kind, generation=state.generation, due=due, requested_at=now
    )


def with_analysis(state: IncidentState, analysis: schemas.Analysis, *, llm: bool) -> IncidentState:
    """A new analysis of the incident made (by the LLM when ``llm``)."""
    pending = state.pending if state.analysis is None else pend(state.pending, "analysis")
    return msgspec.structs.replace(
        state,
        analysis=analysis,
        analyses=state.analyses + 1,
        llm_calls=state.llm_calls + int(llm),
        analysed_members=state.member_count,
        pending=pending,
    )
