"""Where the alerts of a batch go, given their shard's view: the pure part of ``_incidents``.

``place`` is run on the view as this replica has read it; the journal publishes the entry it returns
only if the view was the shard's latest, and runs it again on the newer view otherwise. It reads
nothing but its arguments, so placing again lands where the first placement would have, had it read
the newer view.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

import schemas
from services.incidents import (
    Correlator,
    IncidentSettings,
    IncidentState,
    Joining,
    LogEntry,
    MemberRecord,
    Reads,
    ShardView,
    incident_id,
    join,
    new_review,
    resolve_member,
    review_due,
)


class Placed(msgspec.Struct, frozen=True):
    """An alert's place: its incident, or why it has none (``degraded``)."""

    ref: schemas.IncidentRef | None = None
    degraded: str = ""


@dataclass
class Outcome:
    """What a placed batch asks for once its entry is written: each episode's record (its place), the
    reviews to publish, and the messages its incidents' analyses will read, their exemplars
    (incident, slot, message): a root's own analysis is kept for its incident's review."""

    records: dict[str, MemberRecord] = field(default_factory=dict)
    reviews: list[schemas.IncidentReview] = field(default_factory=list)
    exemplars: list[tuple[str, int, schemas.EnrichedAlert]] = field(default_factory=list)
    reads: Reads | None = None  # what the placement read of its view


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


def ref(record: MemberRecord | None) -> schemas.IncidentRef | None:
    if record is None or not record.incident:
        return None
    return schemas.IncidentRef(id=record.incident, role=record.role, signals=list(record.signals))


def place(
    view: ShardView,
    messages: list[schemas.EnrichedAlert],
    now: datetime,
    correlator: Correlator,
    settings: IncidentSettings,
    sequences: Mapping[str, int] | None = None,
) -> tuple[LogEntry | None, Outcome]:
    """The batch's live alerts of one shard placed against ``view``: new firing alerts correlated and
    counted, resolutions applied to their incidents, and the entry that records it all (None when the
    batch changed nothing). ``sequences``: where the alerts' stream keeps each message, by alert id,
    which is how an incident refers to its exemplars.

    An alert the view has a record of was placed before (a re-send, or a redelivery after a crash):
    it changes nothing, but when its incident has a change no event told yet, the review is asked for
    again, as the crash may have come between the entry and it (a review sent twice is dropped by its
    Nats-Msg-Id). A resolution of an alert the batch places too is
    applied after it. A resolution of an alert never placed (its firing alert in flight on another
    replica, or on one killed before its entry was written) is recorded as such (``incident`` ""):
    written, the entry proves no replica had placed it, and the firing alert, when it comes, is not
    placed after its end; refused, the batch is placed again on the newer view, which may have it."""
    outcome = Outcome()
    episodes = [schemas.episode_key(message.alert) for message in messages]
    known = {episode: view.members.get(episode) for episode in episodes}
    newcomers: dict[str, schemas.EnrichedAlert] = {}
    for message, episode in zip(messages, episodes, strict=True):
        if message.alert.status == "firing" and known[episode] is None:
            newcomers.setdefault(episode, message)
    index = view.index
    joins: dict[str, list[tuple[schemas.EnrichedAlert, Joining]]] = defaultdict(list)
    records: dict[str, MemberRecord] = {}
    names: frozenset[str] = frozenset()
    sequences = sequences or {}
    if newcomers:
        # Unbounded here: the journal bounds the index on the view the entry is written on top of.
        index, assignments, names = correlator.assign_reading(view.index, list(newcomers.values()), now)
        placed = {a.episode: a for a in assignments}
        for episode, message in newcomers.items():
            a = placed.get(episode)
            # The correlator places every firing alert; this is a safety net.
            sequence = sequences.get(message.id, 0)
            joining = (
                Joining(
                    episode,
                    a.incident_id,
                    a.role,
                    tuple(a.signals),
                    new_root=a.new_root,
                    refines=a.refines,
                    sequence=sequence,
                )
                if a is not None
                else Joining(episode, incident_id(episode), "root", sequence=sequence)
            )
            records[episode] = MemberRecord(
                incident=joining.incident_id,
                role=joining.role,
                signals=joining.signals,
                shard=view.shard,
            )
            joins[joining.incident_id].append((message, joining))
        for listed in joins.values():  # in the order the correlator placed them: the opener first
            listed.sort(key=lambda item: (correlator.when(item[0].alert, now), item[1].episode))
    resolves: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
    for message, episode in zip(messages, episodes, strict=True):
        if message.alert.status != "resolved":
            continue
        record = records.get(episode) or known[episode]
        if record is None:
            records[episode] = MemberRecord(
                incident="", role="related", shard=view.shard, resolved=True, at=now
            )
        elif not record.resolved and record.incident:
            records[episode] = msgspec.structs.replace(record, resolved=True)
            resolves[record.incident].append(message)
    states = _changed_states(view, joins, resolves, now, settings)
    for incident, (before, after) in states.items():
        review = new_review(before, after, settings, now)
        if review is not None:
            outcome.reviews.append(review)
        by_episode = {joining.episode: message for message, joining in joins.get(incident, [])}
        outcome.exemplars += _exemplars(after, by_episode, sequences)
    asked = _asked_again(view, messages, known, states, now, settings, outcome, sequences)
    outcome.records = {**{e: r for e, r in known.items() if r is not None}, **records}
    if not records and not states and index is view.index:
        return None, outcome
    entry = view.entry(now, records, (after for _, after in states.values()), index)
    touched = {*states, *asked, *(e.id for e in entry.changed), *entry.dropped}
    outcome.reads = Reads(names, frozenset(touched), frozenset(known))
    return entry, outcome


def _changed_states(
    view: ShardView,
    joins: dict[str, list[tuple[schemas.EnrichedAlert, Joining]]],
    resolves: dict[str, list[schemas.EnrichedAlert]],
    now: datetime,
    settings: IncidentSettings,
) -> dict[str, tuple[IncidentState | None, IncidentState]]:
    """Each touched incident's state before and after the batch's joins, then its resolutions."""
    # Each alert once (``place`` takes an episode's first message, and resolves a member once), and
    # the log makes every change once (a batch is written whole or not at all): ``applied``, the
    # operations the key-value store kept for idempotency, is neither kept nor carried.
    changed: dict[str, tuple[IncidentState | None, IncidentState]] = {}
    for incident in dict.fromkeys([*joins, *resolves]):
        before = view.states.get(incident)
        state = before
        for message, joining in joins.get(incident, []):
            state = join(state, member_of(message), joining, now, shard=view.shard, remembered=False)
        for message in resolves.get(incident, []):
            if state is not None:
                episode = schemas.episode_key(message.alert)
                state = resolve_member(state, episode, message.alert.ends_at, now, settings, remembered=False)
        if state is not None and state is not before:
            changed[incident] = (before, state)
    return changed


def _exemplars(
    state: IncidentState, by_episode: dict[str, schemas.EnrichedAlert], sequences: Mapping[str, int]
) -> list[tuple[str, int, schemas.EnrichedAlert]]:
    """The batch's messages that are the incident's exemplars: of an exemplar's episode, and the very
    message the stream keeps at its sequence (a re-send of it is another message, with other evidence)."""
    found = []
    for slot, exemplar in enumerate(state.exemplars):
        message = by_episode.get(exemplar.episode)
        if message is not None and sequences.get(message.id, 0) == exemplar.sequence:
            found.append((state.id, slot, message))
    return found


def _asked_again(
    view: ShardView,
    messages: list[schemas.EnrichedAlert],
    known: dict[str, MemberRecord | None],
    states: dict[str, tuple[IncidentState | None, IncidentState]],
    now: datetime,
    settings: IncidentSettings,
    outcome: Outcome,
    sequences: Mapping[str, int],
) -> set[str]:
    """Reviews asked for again by alerts placed before (with their exemplars among them, whose
    analyses the review may reuse), for incidents this batch did not change and whose last change no
    event told yet; the incidents it read."""
    again: dict[str, dict[str, schemas.EnrichedAlert]] = defaultdict(dict)
    for message in messages:
        episode = schemas.episode_key(message.alert)
        record = known[episode]
        if record is not None and record.incident and record.incident not in states:
            again[record.incident][episode] = message
    for incident, by_episode in again.items():
        state = view.states.get(incident)
        if state is None or state.generation <= state.analysed_generation:
            continue
        review = review_due(state, settings, now)
        if review is not None:
            outcome.reviews.append(review)
        outcome.exemplars += _exemplars(state, by_episode, sequences)
    return set(again)
