"""The analyst's ``incidents`` consumer: an incident falls due, is analysed once and announced once.

    review not due yet            RetryLater(due - now): JetStream brings it back then
    review of an older generation nothing: a newer review of the incident is on its way
    due                           analyse (the LLM for the first analysis and for material changes,
                                  INCIDENT_MAX_ANALYSES at most), publish the IncidentEvent with
                                  Nats-Msg-Id = event.id and await its ack, then save the state

A crash between the publish and the save makes the review come back and publish the same event id
again, which JetStream drops as a duplicate. Members that joined meanwhile stay pending for the next
event (their own review is already queued).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import review_message
from services.analyst._llm_setup import llm_for
from services.analyst._metrics import AnalystMetrics
from services.analyst._root_analyses import RootAnalyses, shared_roots
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.incidents import (
    IncidentSettings,
    IncidentState,
    IncidentStore,
    OpenIndex,
    after_sent,
    event,
    incident,
    material,
    review_due,
    with_analysis,
)
from services.runtime import Handler, RetryLater, Runtime, StageSpec


class Reviewer:
    def __init__(
        self,
        store: IncidentStore,
        analyst: IncidentAnalyst,
        settings: IncidentSettings,
        js: JetStreamContext,
        *,
        llm: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        roots: RootAnalyses | None = None,
    ) -> None:
        self.store = store
        self.roots = roots
        self.analyst = analyst
        self.settings = settings
        self.js = js
        self.llm = llm
        self.clock = clock
        # Outcomes of reviews worked by ``prepare``, by review, until ``handle`` hands them back.
        self._done: dict[tuple[str, int, str, datetime], BaseException | None] = {}

    async def prepare(self, reviews: list[schemas.IncidentReview]) -> None:
        """Inline (no LLM to wait for): a batch's due reviews, the first of each incident, worked
        side by side, their key-value reads and writes in flight together; ``handle`` hands each
        one's outcome back to the runtime."""
        now = self.clock()
        first: dict[str, schemas.IncidentReview] = {}
        for review in reviews:
            if review.due <= now:
                first.setdefault(review.id, review)
        outcomes = await asyncio.gather(*(self._review(r) for r in first.values()), return_exceptions=True)
        for review, outcome in zip(first.values(), outcomes, strict=True):
            self._done[_key(review)] = outcome

    async def handle(self, review: schemas.IncidentReview) -> None:
        key = _key(review)
        if key in self._done:
            outcome = self._done.pop(key)
            if isinstance(outcome, BaseException):
                raise outcome
            return
        await self._review(review)

    async def _review(self, review: schemas.IncidentReview) -> None:
        now = self.clock()
        if review.due > now:
            raise RetryLater(
                "not due yet", delay=(review.due - now).total_seconds(), error_type="not_due", expected=True
            )
        state, revision = await self.store.state(review.id)
        read = state
        if state is None or state.status != "open":
            return
        # A review looks at the incident as it stands: what changed since it was asked for is covered too.
        if review.kind == "resolve":
            if state.firing_count > 0 or state.grace_until is None or state.sequence == 0:
                return  # firing again, or not opened yet: the review that state asks for does the work
            if state.grace_until > now:
                raise RetryLater(
                    "grace not over",
                    delay=(state.grace_until - now).total_seconds(),
                    error_type="not_due",
                    expected=True,
                )
            kind: schemas.IncidentEventKind = "resolved"
        else:
            if state.analysed_generation >= state.generation:
                return  # announced already (a redelivered or second review)
            kind = "opened" if state.sequence == 0 else "updated"
            state = await self._analysed(state)
        sent, message = event(state, kind, self.clock())  # after the analysis, which may take a while
        duplicate = await self.store.pipe.publish(
            schemas.incident_subject(kind), schemas.encode(message), message.id
        )
        saved = await self.store.change_state(
            review.id, lambda current: _recorded(current, sent, duplicate), known=(read, revision)
        )
        logger.info(
            "incident {} {} (event {}, {} members)", review.id, kind, message.sequence, state.member_count
        )
        if kind == "resolved":
            await self.store.change_index(state.shard, lambda index: _resolved_in(index, review.id, now))
        follow_up = None if saved is None else review_due(saved, self.settings, now)
        if follow_up is not None:
            await self.store.write_all([], [review_message(follow_up)])

    async def _analysed(self, state: IncidentState) -> IncidentState:
        """A new analysis for the first event and for material changes; the last one kept otherwise."""
        if state.analysis is not None and not material(state):
            return state
        use_llm = self.llm and state.llm_calls < self.settings.incident_max_analyses
        if not use_llm and state.analysis is not None and state.analysis.analyzer == "llm":
            return state  # past the bound: the model's last answer beats the rules' first
        kept = await self.store.exemplars_kept(state.id, len(state.exemplars))
        # The rules' answers this process made for these very messages (the root's, as it was analysed).
        known = [
            (message, found)
            for message, encoded in kept
            if self.roots is not None and (found := self.roots.find(encoded)) is not None
        ]
        exemplars = [message for message, _ in kept]
        analysis = await self.analyst.analyze(incident(state), exemplars, use_llm=use_llm, known=known)
        return with_analysis(state, analysis, llm=analysis.analyzer == "llm")


def _key(review: schemas.IncidentReview) -> tuple[str, int, str, datetime]:
    return review.id, review.generation, review.kind, review.due


def _recorded(current: IncidentState | None, sent: IncidentState, duplicate: bool) -> IncidentState | None:
    if current is None:
        return None
    if current.sequence >= sent.sequence:
        # Another replica sent this sequence first; ours was dropped as its duplicate. Come back
        # and send what it did not cover as the next event.
        raise RetryLater("a concurrent review sent this event", delay=1.0, error_type="concurrent")
    if duplicate:
        logger.info("incident {} event {} was published before a crash; recording it", sent.id, sent.sequence)
    return after_sent(current, sent)


def _resolved_in(index: OpenIndex, incident_id: str, now: datetime) -> OpenIndex | None:
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


async def build(settings: AnalystSettings, runtime: Runtime) -> Handler | None:
    incidents = IncidentSettings.of(settings)
    if not incidents.incidents_enabled:
        return None
    store = await IncidentStore.open(runtime.js, incidents.incident_bucket, settings)
    roots = shared_roots(runtime)
    rules = roots.rules or RulesAnalyst.from_dir(settings.rules_dir)
    metrics = AnalystMetrics.of(runtime.registry)
    llm = await llm_for(settings, runtime, rules, metrics)
    analyst = IncidentAnalyst(rules, metrics, llm)
    reviewer = Reviewer(store, analyst, incidents, runtime.js, llm=llm is not None, roots=roots)
    if llm is not None:  # an LLM call takes seconds: each review waits on it in a task of its own
        return Handler(reviewer.handle)
    # The rules wait on nothing: whole batches, their reads and writes side by side.
    return Handler(reviewer.handle, inline=True, prepare=reviewer.prepare)


# Reviews are no alerts (StageSpec's input type is bound to RawAlert): typed Any like other companions.
REVIEWS: StageSpec[Any, AnalystSettings] = StageSpec(
    name="incidents",
    input_subject=schemas.REVIEW,
    input_type=schemas.IncidentReview,
    output_subject=None,
    build=build,
)
