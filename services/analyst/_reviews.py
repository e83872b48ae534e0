"""The analyst's ``incidents`` consumer: an incident falls due, is analysed once and announced once.

    review due within the wait    held until due, then as below (its slot kept, no second delivery)
    review not due for longer     RetryLater(due - now): JetStream brings it back then
    review of an older generation nothing: a newer review of the incident is on its way
    due, alerts queued            held while the analyst's alerts wait to be placed, at most
                                  INCIDENT_REVIEW_DEFER_SECONDS past its due; then as below
    due                           analyse (the LLM for the first analysis and for material changes,
                                  INCIDENT_MAX_ANALYSES at most), publish the IncidentEvent with
                                  Nats-Msg-Id = event.id and await its ack, then save the state

A new incident's review is asked for as its first alerts are placed and falls due one grouping wait
later. It is held in its slot until then rather than sent back and delivered again (two more messages
for every incident); under a flood the held reviews fill the consumer's capacity, it pulls no more
until they fall due, and what it pulls then is due or nearly. A review is held at most half the
shutdown grace, so a stopped (SIGTERM) analyst finishes what it holds; a killed one's come back after
the ack wait, like any message in flight.

The incident's state is read from this replica's view of its shard's log (``Journal``), once the
view has the change the review was asked for (the change was written before the review was sent).
A crash between the publish and the save makes the review come back and publish the same event id
again, which JetStream drops as a duplicate. Members that joined meanwhile stay pending for the next
event (their own review is already queued). Without an LLM, a fetched batch's due reviews go step by
step together: the exemplars read side by side, every event published and the acks awaited together,
then every state saved, one log entry per shard (written again on the newer view when another
replica wrote first).

Alerts go first. While the analyst's consumer of alerts is behind (messages wait at the server, or
it holds some it has not finished: ``services/runtime/_backlog.py``), a due review waits for it, up
to INCIDENT_REVIEW_DEFER_SECONDS past its due (cut so that the longest hold stays within half the
shutdown grace). The alerts' messages on alerts.analyzed, which carry their incident id, are not
slowed by announcements in a flood, and an incident is announced with the members that were still
queued, not announced without them and updated for them (another LLM call) a moment later. An
analyst that keeps up holds no review past its due.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger

import schemas
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incident_review import recorded
from services.analyst._incidents import review_messages, shared_journal
from services.analyst._llm_setup import llm_for
from services.analyst._metrics import AnalystMetrics
from services.analyst._root_analyses import RootAnalyses, shared_roots
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.incidents import (
    EntryTooLarge,
    IncidentSettings,
    IncidentState,
    IncidentStore,
    Journal,
    LogEntry,
    ShardView,
    event,
    event_kind,
    incident,
    material,
    not_due,
    resolved_in,
    review_due,
    with_analysis,
)
from services.runtime import Backlog, Handler, RetryLater, Runtime, StageSpec

# Sleeps are timed by the monotonic clock, dues read on the wall clock: a held review wakes this much
# after its due, not a hair before it (which would send it back for a few milliseconds).
CLOCK_MARGIN_SECONDS = 0.01
# Held reviews due this close together are reviewed together, their reads and writes side by side.
STEP = timedelta(milliseconds=50)
# The most events one log entry records: analysed states weigh a few kB, a message is at most 1 MiB.
MOST_PER_ENTRY = 200
# The most due reviews worked together, step by step: their states read at each step stay among the
# view's decoded ones (``_views.DECODED``) from the first step to the last, and are recorded in one entry.
REVIEWED_TOGETHER = MOST_PER_ENTRY
# When a review whose change the view has not read comes back: with the wait below, eight deliveries
# give a lagging view about a minute (the runtime dead-letters at MAX_DELIVER).
LAGGING_DELAY = 5.0
# How long a starting replica's review waits for the log to be read before it comes back later.
STARTING_SECONDS = 10.0
# How long a review waits for this replica's view to have the change it was asked for: the log's
# entries reach every replica within milliseconds; beyond this the review comes back later.
CATCH_UP_SECONDS = 2.0

# The analyst's consumer of alerts (its StageSpec's name), whose backlog due reviews give way to.
ALERTS_STAGE = "analyst"

# A due review, the incident's state as read, and the event it calls for.
_Work = tuple[schemas.IncidentReview, IncidentState, schemas.IncidentEventKind]


class Reviewer:
    def __init__(
        self,
        journal: Journal,
        store: IncidentStore,
        analyst: IncidentAnalyst,
        settings: IncidentSettings,
        *,
        llm: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        roots: RootAnalyses | None = None,
        hold: float | None = None,
        alerts: Backlog | None = None,
        defer: float | None = None,
    ) -> None:
        self.journal = journal
        self.store = store  # exemplars, events and follow-up reviews
        self.roots = roots
        self.analyst = analyst
        self.settings = settings
        self.llm = llm
        self.clock = clock
        # Reviews due within this long are held until due; later ones go back to the stream.
        self.hold = hold_seconds(settings) if hold is None else hold
        # The analyst's alerts waiting to be placed, which due reviews give way to for up to ``defer``.
        self.alerts = alerts
        self.defer = defer_seconds(settings) if defer is None else defer
        # Outcomes of reviews worked by ``prepare``, by review, until ``handle`` hands them back.
        self._done: dict[tuple[str, int, str, datetime], BaseException | None] = {}

    async def prepare(self, messages: list[schemas.IncidentReviews]) -> None:
        """Inline (no LLM to wait for): a batch's due reviews, the earliest of each incident (it
        looks at the incident as it stands, as a later one would), worked together, each step's
        reads and writes (and the events) in flight at once; ``handle`` hands each one's outcome
        back to the runtime."""
        now = self.clock()
        earliest: dict[str, schemas.IncidentReview] = {}
        reviews = [review for message in messages for review in message.reviews]
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
            await self._caught_up(due)  # once for them all: a lagging view is waited for once
            for start in range(0, len(due), REVIEWED_TOGETHER):
                together = due[start : start + REVIEWED_TOGETHER]
                await self._alerts_first(together[0].due, len(together))
                await self._review_batch(together)

    async def _review_batch(self, reviews: list[schemas.IncidentReview]) -> None:
        try:
            outcomes = await self._review_all(reviews, caught_up=True)
        except Exception as exc:  # the store failed: every review of the batch comes back
            outcomes = [exc] * len(reviews)
        for review, outcome in zip(reviews, outcomes, strict=True):
            self._done[_key(review)] = outcome

    async def handle(self, message: schemas.IncidentReviews) -> None:
        """The message's reviews done (by ``prepare``, or here); it comes back when one of them
        failed (the others are then found done), or after the earliest delay one of them asks for."""
        outcomes: list[BaseException | None] = []
        rest = []
        for review in message.reviews:
            key = _key(review)
            if key in self._done:
                outcomes.append(self._done.pop(key))
            else:
                rest.append(review)
        if self.llm:  # an LLM call takes seconds: each review of the message in a task of its own
            outcomes += await asyncio.gather(*(self._one(review) for review in rest))
        else:
            while rest:  # a message may hold two reviews of one incident: distinct ones together
                distinct: dict[str, schemas.IncidentReview] = {}
                later = [review for review in rest if distinct.setdefault(review.id, review) is not review]
                outcomes += await self._review_all(list(distinct.values()))
                rest = later
        failures = [outcome for outcome in outcomes if outcome is not None]
        if failures:
            retries = [f for f in failures if isinstance(f, RetryLater)]
            if len(retries) < len(failures):
                raise next(f for f in failures if not isinstance(f, RetryLater))
            raise min(retries, key=lambda retry: retry.delay or 0.0)

    async def _one(self, review: schemas.IncidentReview) -> Exception | None:
        wait = (review.due - self.clock()).total_seconds()
        if wait <= self.hold:  # due, or held until due as ``prepare`` holds them inline
            if wait > 0:
                await asyncio.sleep(wait + CLOCK_MARGIN_SECONDS)
            await self._alerts_first(review.due)
        (outcome,) = await self._review_all([review])
        return outcome

    async def _alerts_first(self, due: datetime, reviews: int = 1) -> None:
        """While alerts wait to be placed, until they are or ``defer`` past ``due`` (the earliest of
        the ``reviews`` due)."""
        if self.alerts is None or not self.alerts.behind:
            return
        # Capped: a wall clock stepped back must not stretch the wait past the shutdown bound.
        left = min(self.defer, self.defer - (self.clock() - due).total_seconds())
        if left > 0:
            self.analyst.metrics.reviews_deferred.inc(reviews)
            await self.alerts.until_caught_up(left)

    async def _review_all(
        self, reviews: list[schemas.IncidentReview], *, caught_up: bool = False
    ) -> list[Exception | None]:
        """Reviews of distinct incidents, step by step: their states read, analysed, the events
        published and their acks awaited, and only then the states saved; each review's outcome
        (None, or what it raises to the runtime). A review that fails at a step leaves the others."""
        if not self.journal.ready.is_set():  # a replica starting: its view is not the incidents' yet
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STARTING_SECONDS):
                    await self.journal.until_ready()
        now = self.clock()
        if not self.journal.ready.is_set():
            later = RetryLater(
                "incident log still being read", delay=STARTING_SECONDS, error_type="starting", expected=True
            )
            return [later for _ in reviews]
        outcomes: dict[str, Exception | None] = dict.fromkeys((r.id for r in reviews), None)
        work = await self._to_announce(reviews, now, outcomes, caught_up=caught_up)
        if work:
            analysed = await self._analysed_work(work, outcomes)
            if analysed:
                await self._announce(analysed, now, outcomes)
        return [outcomes[review.id] for review in reviews]

    async def _to_announce(
        self,
        reviews: list[schemas.IncidentReview],
        now: datetime,
        outcomes: dict[str, Exception | None],
        *,
        caught_up: bool,
    ) -> list[_Work]:
        """The due reviews whose incident, as read now, has an event to announce (``caught_up``: the
        view was waited for already)."""
        for review in reviews:
            if review.due > now:
                outcomes[review.id] = not_due("not due yet", review.due, now)
        wanted = [review for review in reviews if outcomes[review.id] is None]
        if not wanted:
            return []
        if not caught_up:
            await self._caught_up(wanted)
        work: list[_Work] = []
        for review in wanted:
            state = self._as_asked(review)
            if state is None:
                # The view has not read the change the review was asked for (written before the review
                # was sent): come back for it, here or on another replica. A view that never gets
                # there is stuck reading the log, which its replica logs as an error.
                outcomes[review.id] = RetryLater(
                    "the incident log not read this far yet", delay=LAGGING_DELAY, error_type="lagging"
                )
                continue
            try:
                kind = event_kind(review, state, now)
            except RetryLater as exc:
                outcomes[review.id] = exc
                continue
            if kind is not None:
                work.append((review, state, kind))
        return work

    def _as_asked(self, review: schemas.IncidentReview) -> IncidentState | None:
        """The incident as the view has it, if the view has the change the review was asked for."""
        return self.journal.state(review.id) if self._has_asked(review) else None

    def _has_asked(self, review: schemas.IncidentReview) -> bool:
        """Whether the view has the change the review was asked for."""
        generation = self.journal.generation(review.id)
        return generation is not None and generation >= review.generation

    async def _caught_up(self, reviews: list[schemas.IncidentReview]) -> None:
        """Once the view has every review's generation of its incident, or CATCH_UP_SECONDS passed
        (the entries were written before the reviews were sent: the view has them within
        milliseconds, unless it is far behind)."""

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_SECONDS):
                while not all(self._has_asked(review) for review in reviews):
                    await self.journal.moved()

    async def _analysed_work(
        self, work: list[_Work], outcomes: dict[str, Exception | None]
    ) -> list[tuple[_Work, IncidentState | None]]:
        """Each incident with its analysis (None for a resolution); an analysis that failed sends its
        own review back, not the batch's."""
        # A review looks at the incident as it stands: what changed since it was asked for is covered too.
        states = [state if kind != "resolved" else None for _, state, kind in work]
        analysed = await self._analysed_all(states)
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
            for (_, read, kind), state in analysed
        ]
        duplicates = await self.store.publish_all(
            [
                (schemas.incident_subject(message.event), schemas.encode(message), message.id)
                for _, message in made
            ]
        )

        sent_by_shard: dict[str, list[tuple[schemas.IncidentReview, IncidentState, bool]]] = {}
        for ((review, read, _), _), (sent, _), duplicate in zip(analysed, made, duplicates, strict=True):
            sent_by_shard.setdefault(read.shard, []).append((review, sent, duplicate))
        saved: dict[str, IncidentState | None] = {}
        for shard, sent_here in sent_by_shard.items():
            for start in range(0, len(sent_here), MOST_PER_ENTRY):
                part = sent_here[start : start + MOST_PER_ENTRY]
                try:
                    recorded_here, lost = await self._record(shard, part, now)
                except Exception as exc:  # these reviews come back; the others are done
                    for review, _, _ in part:
                        outcomes[review.id] = exc
                    continue
                saved.update(recorded_here)
                outcomes.update(lost)
        follow_ups = []
        announced = []
        for ((review, read, kind), state), (_, message) in zip(analysed, made, strict=True):
            if outcomes[review.id] is not None:
                continue  # another replica sent this event first: nothing recorded, the review comes back
            members = (state or read).member_count
            announced.append(f"{review.id} {kind} (event {message.sequence}, {members} members)")
            current = saved.get(review.id)
            follow_up = None if current is None else review_due(current, self.settings, now)
            if follow_up is not None:
                follow_ups.append(follow_up)
        if follow_ups:
            await self.store.write_all(review_messages(follow_ups, together=not self.llm))
        _log_announced(announced)

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
        analysed: list[IncidentState | Exception | None] = list(states)
        # An incident of one alert, its root placed and analysed by this process, analysed by the
        # rules: its analysis is the root's own answer, with nothing read back or worked out again.
        alone = {
            i: (state, answer)
            for i, state, use_llm in wanted
            if self.analyst.llm_for(use_llm=use_llm) is None
            and state.member_count <= 1
            and (answer := self._lone_answer(state)) is not None
        }
        for i, (state, answer) in alone.items():
            analysis = self.analyst.lone_root(answer)
            analysed[i] = with_analysis(state, analysis, llm=analysis.analyzer == "llm")
        wanted = [item for item in wanted if item[0] not in alone]
        # A one-exemplar incident whose root this process placed and analysed, where the stream's
        # sequence of it was not known, is reviewed from the message kept (nothing could read it back).
        placed_here = {
            state.id: root
            for _, state, _ in wanted
            if self.roots is not None
            and len(state.exemplars) == 1
            and (root := self.roots.root(state.id, state.exemplars[0].episode)) is not None
        }
        to_read = [(state.id, state.exemplars) for _, state, _ in wanted if state.id not in placed_here]
        read = iter(await self.store.exemplars_of(to_read) if to_read else [])
        for i, state, use_llm in wanted:
            if state.id in placed_here:
                known = [placed_here[state.id]]
                exemplars = [placed_here[state.id][0]]
            else:
                kept = next(read)
                # The rules' answers this process made for these very messages (the root's, as analysed).
                known = [
                    (message, found)
                    for message, sequence in kept
                    if self.roots is not None and (found := self.roots.find(sequence)) is not None
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

    async def _record(
        self, shard: str, sent: list[tuple[schemas.IncidentReview, IncidentState, bool]], now: datetime
    ) -> _Recorded:
        """The events recorded as one entry of the shard's log, or in halves when that would not fit
        one message (analysed states weigh a few kB each)."""
        try:
            return await self.journal.commit(shard, _recorder(sent, now))
        except EntryTooLarge:
            if len(sent) < 2:
                raise
            half = len(sent) // 2
            first_saved, first_lost = await self._record(shard, sent[:half], now)
            saved, lost = await self._record(shard, sent[half:], now)
            return {**first_saved, **saved}, {**first_lost, **lost}

    def _lone_answer(self, state: IncidentState) -> schemas.Analysis | None:
        """The root's own rules answer, kept by this process, for an incident whose only exemplar is
        that root (as ``analyze`` would find it among its exemplars)."""
        if self.roots is None or state.root is None or len(state.exemplars) != 1:
            return None
        return self.roots.answer(state.id, state.exemplars[0].episode, state.root.alert_id)

    def _analyse(self, state: IncidentState) -> bool | None:
        """Whether the incident needs a new analysis (None: the last one stands), and by the LLM."""
        if state.analysis is not None and not material(state):
            return None
        use_llm = self.llm and state.llm_calls < self.settings.incident_max_analyses
        if not use_llm and state.analysis is not None and state.analysis.analyzer == "llm":
            return None  # past the bound: the model's last answer beats the rules' first
        return use_llm


# Incidents named one per line at most; a flood's batch of reviews is one line, its incidents at debug.
LOGGED_ONE_BY_ONE = 5


def _log_announced(announced: list[str]) -> None:
    if len(announced) <= LOGGED_ONE_BY_ONE:
        for line in announced:
            logger.info("incident {}", line)
        return
    logger.info("{} incidents announced, the first: {}", len(announced), announced[0])
    for line in announced:
        logger.debug("incident {}", line)


_Recorded = tuple[dict[str, IncidentState | None], dict[str, Exception | None]]


def _recorder(
    sent_here: list[tuple[schemas.IncidentReview, IncidentState, bool]], now: datetime
) -> Callable[[ShardView], tuple[LogEntry | None, _Recorded]]:
    """The shard's events recorded in the states as the view has them (and resolved incidents left
    out of matching but by a related alert within the reopen window), as one entry; with the states
    saved, and the reviews to come back (another replica sent their event first)."""

    def record(view: ShardView) -> tuple[LogEntry | None, _Recorded]:
        states: dict[str, IncidentState] = {}
        saved: dict[str, IncidentState | None] = {}
        lost: dict[str, Exception | None] = {}
        index = view.index
        for review, sent, duplicate in sent_here:
            try:
                after = recorded(view.states.get(review.id), sent, duplicate)
            except RetryLater as exc:
                lost[review.id] = exc
                continue
            saved[review.id] = after
            if after is not None:
                states[review.id] = after
                if after.status == "resolved":
                    index = resolved_in(index, review.id, now) or index
        if not states:
            return None, (saved, lost)
        return view.entry(now, {}, states.values(), index), (saved, lost)

    return record


def hold_seconds(settings: IncidentSettings, shutdown_grace: float = float("inf")) -> float:
    """How long before its due a review is held rather than sent back: the grouping wait and a second,
    at most half the shutdown grace (a stopping analyst finishes what it holds)."""
    return min(settings.incident_group_wait_seconds + 1.0, shutdown_grace / 2)


def defer_seconds(settings: IncidentSettings, shutdown_grace: float = float("inf")) -> float:
    """How long past its due a review gives way to queued alerts: INCIDENT_REVIEW_DEFER_SECONDS, cut so
    that held and deferred together it stays within half the shutdown grace."""
    room = shutdown_grace / 2 - hold_seconds(settings, shutdown_grace)
    return max(0.0, min(settings.incident_review_defer_seconds, room))


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
    grace = settings.shutdown_grace_seconds
    defer = defer_seconds(incidents, grace)
    if defer < incidents.incident_review_defer_seconds:
        logger.warning(
            "incident reviews give way to queued alerts for {:g} s, not INCIDENT_REVIEW_DEFER_SECONDS={:g}: "
            "held and deferred, a review must fit in half of SHUTDOWN_GRACE_SECONDS={:g}",
            defer,
            incidents.incident_review_defer_seconds,
            grace,
        )
    journal = await shared_journal(settings, runtime)
    reviewer = Reviewer(
        journal,
        store,
        analyst,
        incidents,
        llm=llm is not None,
        roots=roots,
        hold=hold_seconds(incidents, grace),
        alerts=runtime.backlog(ALERTS_STAGE),
        defer=defer,
    )
    if llm is not None:  # an LLM call takes seconds: each review waits on it in a task of its own
        return Handler(reviewer.handle)
    # The rules wait on nothing: whole batches, their reads and writes side by side.
    return Handler(reviewer.handle, inline=True, prepare=reviewer.prepare)


# Reviews are no alerts (StageSpec's input type is bound to RawAlert): typed Any like other companions.
REVIEWS: StageSpec[Any, AnalystSettings] = StageSpec(
    name="incidents",
    input_subject=schemas.REVIEW,
    input_type=schemas.IncidentReviews,
    output_subject=None,
    build=build,
)
