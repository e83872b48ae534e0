"""An in-memory run of grouping and the incident lifecycle over timed alerts, on a virtual clock.

The storm benchmark (``python -m bench.storms``) and tests replay a storm here: no NATS, no key-value
store, no LLM, but the analyst's own pieces in the analyst's order. Each batch of messages goes
through ``Correlator.assign`` (one index per cluster, as the store shards it), joins and resolutions
through the lifecycle (``_lifecycle``), and every review the lifecycle asks for is handled when it
falls due the way the analyst's ``incidents`` consumer handles it: an analysis for the first event
and for material changes (the LLM while the incident has INCIDENT_MAX_ANALYSES left), one event.
What the run counts is what a person would receive and what the LLM would be asked.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import schemas
from services.incidents._correlate import Assignment, Correlator, incident_id
from services.incidents._events import after_sent, event
from services.incidents._index import OpenIndex
from services.incidents._lifecycle import (
    IncidentState,
    Joining,
    join,
    material,
    new_review,
    resolve_member,
    review_due,
    with_analysis,
)
from services.incidents._review import event_kind, resolved_in
from services.incidents._settings import IncidentSettings
from services.incidents._store import shard_of
from services.incidents._topology import Topology
from services.runtime import RetryLater

# Stands for the analysis the analyst would make: the simulation counts analyses, it does not make them.
_ANALYSIS = schemas.Analysis(
    summary="simulated", root_cause="simulated", category="unknown", confidence=0.0, analyzer="rules"
)


class Assigner(Protocol):
    """What places alerts in incidents: ``Correlator``, or a stand-in that knows the answer."""

    def assign(
        self, index: OpenIndex, messages: Sequence[schemas.EnrichedAlert], now: datetime
    ) -> tuple[OpenIndex, list[Assignment]]: ...


@dataclass(frozen=True)
class Arrival:
    """One message as the analyst's batch receives it, with the incident it truly belongs to."""

    at: datetime
    message: schemas.EnrichedAlert
    truth: str = ""


@dataclass(frozen=True)
class Notification:
    at: datetime
    kind: schemas.IncidentEventKind
    incident: str
    llm: bool  # this event's analysis called the LLM
    changes: tuple[schemas.IncidentChange, ...] = ()
    root_refined: bool = False


@dataclass
class Run:
    """What a storm produced: each episode's incident and every notification, in order."""

    incident_of: dict[str, str] = field(default_factory=dict)  # episode key -> incident id
    truth_of: dict[str, str] = field(default_factory=dict)  # episode key -> true incident
    notifications: list[Notification] = field(default_factory=list)
    first_arrival: datetime | None = None  # the first message's ``received_at``

    @property
    def llm_calls(self) -> int:
        return sum(1 for note in self.notifications if note.llm)

    def count(self, *kinds: schemas.IncidentEventKind) -> int:
        return sum(1 for note in self.notifications if note.kind in kinds)

    @property
    def first_notification(self) -> timedelta | None:
        """From the first alert reaching the pipeline (ingest) to the first event about any incident."""
        if self.first_arrival is None or not self.notifications:
            return None
        return min(note.at for note in self.notifications) - self.first_arrival


class Simulation:
    """One storm through correlation and the lifecycle; call ``run`` once."""

    def __init__(
        self,
        settings: IncidentSettings,
        topology: Topology | None = None,
        *,
        batch_size: int = 64,
        assigner: Assigner | None = None,
    ) -> None:
        self._settings = settings
        self._correlator = assigner or Correlator(settings, topology)
        self._batch_size = batch_size
        self._indexes: dict[str, OpenIndex] = {}
        self._states: dict[str, IncidentState] = {}
        self._resolved: set[str] = set()  # episodes whose resolution was counted
        # (due, incident id, generation, kind): JetStream de-duplicates a review by the last three.
        self._reviews: list[tuple[datetime, str, int, schemas.IncidentReviewKind]] = []
        self._asked: set[tuple[str, int, str]] = set()
        self._run = Run()

    def run(self, arrivals: Iterable[Arrival]) -> Run:
        pending = sorted(arrivals, key=lambda arrival: arrival.at)
        if pending:
            self._run.first_arrival = min(arrival.message.received_at for arrival in pending)
        position = 0
        while position < len(pending) or self._reviews:
            # A batch before a review due at the same instant: the review then sees its members.
            if position < len(pending) and (not self._reviews or pending[position].at <= self._reviews[0][0]):
                now = pending[position].at
                end = position + 1
                while end < len(pending) and pending[end].at == now and end - position < self._batch_size:
                    end += 1
                self._batch(pending[position:end], now)
                position = end
            else:
                due, incident, generation, kind = heapq.heappop(self._reviews)
                review = schemas.IncidentReview(
                    id=incident, kind=kind, generation=generation, due=due, requested_at=due
                )
                self._review(review, due)
        return self._run

    def _batch(self, batch: Sequence[Arrival], now: datetime) -> None:
        newcomers: dict[str, dict[str, schemas.EnrichedAlert]] = {}  # shard -> episode -> message
        for arrival in batch:
            episode = schemas.episode_key(arrival.message.alert)
            self._run.truth_of.setdefault(episode, arrival.truth)
            if arrival.message.alert.status == "firing" and episode not in self._run.incident_of:
                newcomers.setdefault(shard_of(arrival.message.alert), {}).setdefault(episode, arrival.message)
        joins: dict[str, list[tuple[schemas.EnrichedAlert, Joining]]] = {}
        for shard, messages in newcomers.items():
            index = self._indexes.get(shard, OpenIndex())
            self._indexes[shard], assignments = self._correlator.assign(index, list(messages.values()), now)
            placed = {
                a.episode: Joining(
                    a.episode, a.incident_id, a.role, tuple(a.signals), new_root=a.new_root, refines=a.refines
                )
                for a in assignments
            }
            for episode, message in messages.items():
                # The analyst's safety net: an alert the correlator did not place is an incident of its own.
                joining = placed.get(episode) or Joining(episode, incident_id(episode), "root")
                self._run.incident_of[episode] = joining.incident_id
                joins.setdefault(joining.incident_id, []).append((message, joining))
        before: dict[str, IncidentState | None] = {}
        for incident, listed in joins.items():
            state = before.setdefault(incident, self._states.get(incident))
            for message, joining in listed:
                state = join(state, _member(message), joining, now, shard=shard_of(message.alert))
            assert state is not None
            self._states[incident] = state
        for arrival in batch:
            episode = schemas.episode_key(arrival.message.alert)
            incident = self._run.incident_of.get(episode, "")
            if arrival.message.alert.status != "resolved" or not incident or episode in self._resolved:
                continue
            self._resolved.add(episode)
            before.setdefault(incident, self._states[incident])
            self._states[incident] = resolve_member(
                self._states[incident], episode, arrival.message.alert.ends_at, now, self._settings
            )
        for incident in sorted(before):
            self._ask(new_review(before[incident], self._states[incident], self._settings, now))

    def _ask(self, review: schemas.IncidentReview | None, due: datetime | None = None) -> None:
        if review is None:
            return
        if due is None:  # JetStream drops a review whose Nats-Msg-Id it has seen
            if (review.id, review.generation, review.kind) in self._asked:
                return
            self._asked.add((review.id, review.generation, review.kind))
        heapq.heappush(self._reviews, (due or review.due, review.id, review.generation, review.kind))

    def _review(self, review: schemas.IncidentReview, now: datetime) -> None:
        """What the analyst's ``incidents`` consumer does with a review that fell due: it looks at the
        incident as it stands (services/analyst/_reviews.py)."""
        state = self._states[review.id]
        try:
            kind = event_kind(review, state, now)
        except RetryLater as later:  # JetStream delivers it again after the delay (a grace not over)
            if later.delay is None:
                raise  # a review not due always says when it is
            self._ask(review, due=now + timedelta(seconds=later.delay))
            return
        if kind is None:
            return
        analysed, llm = state, False
        if kind != "resolved" and (state.analysis is None or material(state)):
            llm = state.llm_calls < self._settings.incident_max_analyses
            analysed = with_analysis(state, _ANALYSIS, llm=llm)
        sent, message = event(analysed, kind, now)
        self._states[review.id] = saved = after_sent(state, sent)
        self._run.notifications.append(
            Notification(now, kind, review.id, llm, tuple(message.changes), message.root_refined)
        )
        if kind == "resolved":
            index = self._indexes.get(state.shard, OpenIndex())
            self._indexes[state.shard] = resolved_in(index, review.id, now) or index
        self._ask(review_due(saved, self._settings, now))


def _member(message: schemas.EnrichedAlert) -> schemas.IncidentMember:
    alert = message.alert
    return schemas.IncidentMember(
        alert_id=message.id,
        alertname=alert.labels.get("alertname", ""),
        status=alert.status,
        severity=alert.labels.get("severity", ""),
        starts_at=alert.starts_at,
        labels={key: value for key, value in alert.labels.items() if key != "alertname"},
        summary=alert.annotations.get("summary", ""),
    )


def simulate(
    arrivals: Iterable[Arrival],
    settings: IncidentSettings,
    topology: Topology | None = None,
    *,
    batch_size: int = 64,
    assigner: Assigner | None = None,
) -> Run:
    """Replay ``arrivals`` through grouping and the lifecycle: what the analyst would have done."""
    return Simulation(settings, topology, batch_size=batch_size, assigner=assigner).run(arrivals)
