"""The analyst's ``incidents`` consumer: an incident falls due, is analysed once and announced once.

    review due within the wait    held until due, then as below (its slot kept, no second delivery)
    review not due for longer     RetryLater(due - now): JetStream brings it back then
    review of an older generation nothing: a newer review of the incident is on its way
    due                           analyse (the LLM for the first analysis and for material changes,
                                  INCIDENT_MAX_ANALYSES at most), publish the IncidentEvent with
                                  Nats-Msg-Id = event.id and await its ack, then save the state

A new incident's review is asked for as its first alerts are placed and falls due one grouping wait
later. It is held in its slot until then rather than sent back and delivered again (two more messages
for every incident); under a flood the held reviews fill the consumer's capacity, it pulls no more
until they fall due, and what it pulls then is due or nearly. A review is held at most half the
shutdown grace, so a stopped (SIGTERM) analyst finishes what it holds; a killed one's come back after
the ack wait, like any message in flight.

A crash between the publish and the save makes the review come back and publish the same event id
again, which JetStream drops as a duplicate. Members that joined meanwhile stay pending for the next
event (their own review is already queued). Without an LLM, a fetched batch's due reviews go step by
step together: the states read side by side, the exemplars read side by side, every event published
and the acks awaited together, then every state saved (compare-and-set on the revision read).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incident_review import Change, recorded, resolving
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
    event,
    event_kind,
    incident,
    material,
    not_due,
    review_due,
    with_analysis,
)
from services.runtime import Handler, RetryLater, Runtime, StageSpec

# Sleeps are timed by the monotonic clock, dues read on the wall clock: a held review wakes this much
# after its due, not a hair before it (which would send it back for a few milliseconds).
CLOCK_MARGIN_SECONDS = 0.01
# Held reviews due this close together are reviewed together, their reads and writes side by side.
STEP = timedelta(milliseconds=50)

# A due review, the incident's state and revision as read, and the event it calls for.
_Work = tuple[schemas.IncidentReview, IncidentState, int, schemas.IncidentEventKind]


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
        hold: float | None = None,
    ) -> None:
        self.store = store
        self.roots = roots
        self.analyst = analyst
        self.settings = settings
        self.js = js
        self.llm = llm
        self.clock = clock
        # Reviews due within this long are held until due; later ones go back to the stream.
        self.hold = hold_seconds(settings) if hold is None else hold
        # Outcomes of reviews worked by ``prepare``, by review, until ``handle`` hands them back.
        self._done: dict[tuple[str, int, str, datetime], BaseException | None] = {}

    async def prepare(self, reviews: list[schemas.IncidentReview]) -> None:
        """Inline (no LLM to wait for): a batch's due reviews, the earliest of each incident (it
        looks at the incident as it stands, as a later one would), worked together, each step's
        key-value reads and writes (and the events) in flight at once; ``handle`` hands each one's
        outcome back to the runtime."""
        now = self.clock()
        earliest: dict[str, schemas.IncidentReview] = {}
        for review in sorted(reviews, key=lambda review: review.due):
            if review.due <= now + timedelta(seconds=self.hold):
                earliest.setdefault(review.id, review)
        waiting = list(earliest.values())  # in order of due, as they were taken
        while waiting:
            now = self.clock()
            if waiting[0].due > now:  # held: wake for the earliest and those due just after it
                step = waiting[0].due + STEP
                wake = max(review.due for review in waiting if review.due <= step)
                await asyncio.sleep((wake - now).total_seconds() + CLOCK_MARGIN_SECONDS)
                now = self.clock()
            count = bisect.bisect_right([review.due for review in waiting], now)
            if not count:
                break  # the clock went back: ``handle`` sends them back with their delay
            due, waiting = waiting[:count], waiting[count:]
            await self._review_batch(due)

    async def _review_batch(self, reviews: list[schemas.IncidentReview]) -> None:
        try:
            outcomes = await self._review_all(reviews)
        except Exception as exc:  # the store failed: every review of the batch comes back
            outcomes = [exc] * len(reviews)
        for review, outcome in zip(reviews, outcomes, strict=True):
            self._done[_key(review)] = outcome

    async def handle(self, review: schemas.IncidentReview) -> None:
        key = _key(review)
        if key in self._done:
            outcome = self._done.pop(key)
        else:
            wait = (review.due - self.clock()).total_seconds()
            if self.llm and 0 < wait <= self.hold:  # inline, ``prepare`` held what it would
                await asyncio.sleep(wait + CLOCK_MARGIN_SECONDS)
            (outcome,) = await self._review_all([review])
        if outcome is not None:
            raise outcome

    async def _review_all(self, reviews: list[schemas.IncidentReview]) -> list[Exception | None]:
        """Reviews of distinct incidents, step by step: their states read, analysed, the events
        published and their acks awaited, and only then the states saved; each review's outcome
        (None, or what it raises to the runtime). A review that fails at a step leaves the others."""
        now = self.clock()
        outcomes: dict[str, Exception | None] = dict.fromkeys((r.id for r in reviews), None)
        work = await self._to_announce(reviews, now, outcomes)
        if work:
            analysed = await self._analysed_work(work, outcomes)
            if analysed:
                await self._announce(analysed, now, outcomes)
        return [outcomes[review.id] for review in reviews]

    async def _to_announce(
        self, reviews: list[schemas.IncidentReview], now: datetime, outcomes: dict[str, Exception | None]
    ) -> list[_Work]:
        """The due reviews whose incident, as read now, has an event to announce."""
        for review in reviews:
            if review.due > now:
                outcomes[review.id] = not_due("not due yet", review.due, now)
        wanted = [review for review in reviews if outcomes[review.id] is None]
        if not wanted:
            return []
        work: list[_Work] = []
        for review, (state, revision) in zip(
            wanted, await self.store.states([r.id for r in wanted]), strict=True
        ):
            try:
                kind = event_kind(review, state, now)
            except RetryLater as exc:
                outcomes[review.id] = exc
                continue
            if kind is not None and state is not None:
                work.append((review, state, revision, kind))
        return work

    async def _analysed_work(
        self, work: list[_Work], outcomes: dict[str, Exception | None]
    ) -> list[tuple[_Work, IncidentState | None]]:
        """Each incident with its analysis (None for a resolution); an analysis that failed sends its
        own review back, not the batch's."""
        # A review looks at the incident as it stands: what changed since it was asked for is covered too.
        analysed = await self._analysed_all(
            [state if kind != "resolved" else None for _, state, _, kind in work]
        )
        done: list[tuple[_Work, IncidentState | None]] = []
        for item, result in zip(work, analysed, strict=True):
            if isinstance(result, Exception):
                outcomes[item[0].id] = result
            else:
                done.append((item, result))
        return done

    async def _announce(
        self,
        analysed: list[tuple[_Work, IncidentState | None]],
        now: datetime,
        outcomes: dict[str, Exception | None],
    ) -> None:
        """Every event published and acknowledged, then every state saved, then the follow-up reviews
        and the resolved incidents left out of matching."""
        made = [
            event(state or read, kind, self.clock())  # after the analysis, which may take a while
            for (_, read, _, kind), state in analysed
        ]
        duplicates = await self.store.publish_all(
            [
                (schemas.incident_subject(message.event), schemas.encode(message), message.id)
                for _, message in made
            ]
        )

        def recorder(review: schemas.IncidentReview, sent: IncidentState, duplicate: bool) -> Change:
            def record(current: IncidentState | None) -> IncidentState | None:
                try:
                    return recorded(current, sent, duplicate)
                except RetryLater as exc:
                    outcomes[review.id] = exc
                    return None  # nothing written

            return record

        saved = await self.store.change_states(
            {
                review.id: recorder(review, sent, duplicate)
                for ((review, *_), _), (sent, _), duplicate in zip(analysed, made, duplicates, strict=True)
            },
            known={review.id: (read, revision) for (review, read, revision, _), _ in analysed},
        )
        follow_ups, resolved = [], []
        for ((review, read, _, kind), state), (_, message) in zip(analysed, made, strict=True):
            if outcomes[review.id] is not None:
                continue  # another replica sent this event first: nothing recorded, the review comes back
            members = (state or read).member_count
            logger.info("incident {} {} (event {}, {} members)", review.id, kind, message.sequence, members)
            if kind == "resolved":
                resolved.append((review.id, read.shard))
            current = saved.get(review.id)
            follow_up = None if current is None else review_due(current, self.settings, now)
            if follow_up is not None:
                follow_ups.append(review_message(follow_up))
        # Follow-ups first: a redelivered review finds its event recorded and would not write them again.
        if follow_ups:
            await self.store.write_all([], follow_ups)
        for incident_id, shard in resolved:
            try:
                await self.store.change_index(shard, resolving(incident_id, now))
            except Exception as exc:  # this review comes back; the others of the batch are done
                outcomes[incident_id] = exc

    async def _analysed_all(
        self, states: list[IncidentState | None]
    ) -> list[IncidentState | Exception | None]:
        """A new analysis for the first event and for material changes, the last one kept otherwise
        (None in, None out; what an analysis raised in its place); the exemplars of every incident
        analysed read side by side."""
        wanted = [
            (i, state, use_llm)
            for i, state in enumerate(states)
            if state is not None and (use_llm := self._analyse(state)) is not None
        ]
        kept_all = (
            await self.store.exemplars_of([(state.id, len(state.exemplars)) for _, state, _ in wanted])
            if wanted
            else []
        )
        analysed: list[IncidentState | Exception | None] = list(states)
        for (i, state, use_llm), kept in zip(wanted, kept_all, strict=True):
            # The rules' answers this process made for these very messages (the root's, as it was analysed).
            known = [
                (message, found)
                for message, encoded in kept
                if self.roots is not None and (found := self.roots.find(encoded)) is not None
            ]
            exemplars = [message for message, _ in kept]
            try:
                analysis = await self.analyst.analyze(
                    incident(state), exemplars, use_llm=use_llm, known=known
                )
            except Exception as exc:
                analysed[i] = exc
                continue
            analysed[i] = with_analysis(state, analysis, llm=analysis.analyzer == "llm")
        return analysed

    def _analyse(self, state: IncidentState) -> bool | None:
        """Whether the incident needs a new analysis (None: the last one stands), and by the LLM."""
        if state.analysis is not None and not material(state):
            return None
        use_llm = self.llm and state.llm_calls < self.settings.incident_max_analyses
        if not use_llm and state.analysis is not None and state.analysis.analyzer == "llm":
            return None  # past the bound: the model's last answer beats the rules' first
        return use_llm


def hold_seconds(settings: IncidentSettings, shutdown_grace: float = float("inf")) -> float:
    """How long before its due a review is held rather than sent back: the grouping wait and a second,
    at most half the shutdown grace (a stopping analyst finishes what it holds)."""
    return min(settings.incident_group_wait_seconds + 1.0, shutdown_grace / 2)


def _key(review: schemas.IncidentReview) -> tuple[str, int, str, datetime]:
    return review.id, review.generation, review.kind, review.due


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
    hold = hold_seconds(incidents, settings.shutdown_grace_seconds)
    reviewer = Reviewer(store, analyst, incidents, runtime.js, llm=llm is not None, roots=roots, hold=hold)
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
