"""The analyst's per-alert side of incidents: place each alert of a batch in its incident.

Once per batch (``prepare``), before any alert of it is handled, per shard (a cluster's alerts):

    place       new firing alerts correlated against the shard's view, resolutions applied, on the
                view this replica has read (``_placement.place``)
    commit      everything the batch changed appended to the shard's log as one entry, only if no
                other replica appended since the view was read; placed again on the newer view if
                one did (``Journal.commit``)
    reviews     an ``IncidentReview`` per incident that needs an event, in one message per second
                they fall due in (de-duplicated by the reviews it holds)

An incident's exemplars (the messages its analysis reads: the root, distinct alert names) are not
copied anywhere: its state refers to each by its sequence in the alerts' stream, which the runtime
hands ``prepare`` with each message (``Handler(sequenced=True)``).

``handle`` then reads the alert's place with ``take``. A kill -9 before the entry is written leaves
nothing behind (the batch comes back and is placed afresh); after it, the batch comes back placed,
and asks again for the reviews it may not have sent. When the log fails or is slower
than INCIDENT_STORE_TIMEOUT_SECONDS, the alerts of the clusters whose entries were not written go on
one by one (no incident, the analysis degraded) and the log is left alone for a while, so an outage
never blocks the pipeline.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from loguru import logger
from prometheus_client import CollectorRegistry

import schemas
from services.analyst._metrics import IncidentLogMetrics
from services.analyst._placement import Outcome, Placed, place, ref
from services.analyst._root_analyses import RootAnalyses
from services.analyst._settings import AnalystSettings
from services.incidents import (
    Conflicted,
    Correlator,
    EntryTooLarge,
    IncidentSettings,
    IncidentStore,
    Journal,
    LogEntry,
    MemberRecord,
    ShardView,
    shard_of,
)
from services.runtime import Runtime

# The most alerts of one shard one entry records: a flood's batches waiting their turn together are
# written in parts of this size, each well within a message (one-alert incidents weigh ~1 kB each).
MOST_PER_ENTRY = 500
# After a store failure, how long alerts go on one by one before the store is tried again.
PAUSE_AFTER_FAILURE = timedelta(seconds=10)
DEGRADED_REASON = "incident store unavailable: analysed on its own, not grouped into an incident"
# An alert whose incident's state, recorded with it, would be over what the NATS server takes.
TOO_LARGE_REASON = (
    "its incident's state is larger than the NATS server takes (max_payload): analysed on its own, "
    "not grouped into an incident"
)
# A firing alert that came after its own resolution (a redelivery, a replica killed mid-batch).
LATE_REASON = "came after its own resolution: already resolved, not grouped into an incident"

T = TypeVar("T")
# A part of a batch whose entry was written: its messages, what placing them gave, its reviews' settling.
_Written = tuple[list[schemas.EnrichedAlert], Outcome, "asyncio.Future[None] | None"]


_JOURNALS: weakref.WeakKeyDictionary[object, asyncio.Future[Journal]] = weakref.WeakKeyDictionary()


async def shared_journal(settings: AnalystSettings, runtime: Runtime) -> Journal:
    """The process's ``Journal``, opened by whichever of the analyst's consumers is built first: the
    placement and the reviews read one view of the log."""
    opening = _JOURNALS.get(runtime.registry)
    if opening is None:
        grouping = IncidentSettings.of(settings)
        reopen = timedelta(seconds=grouping.incident_reopen_seconds)
        opening = _JOURNALS[runtime.registry] = asyncio.ensure_future(
            Journal.open(runtime.js, grouping.incident_bucket, settings, reopen)
        )
        registry = runtime.registry
        opening.add_done_callback(lambda opened: _register_log_metrics(opened, registry))
    return await asyncio.shield(opening)


def _register_log_metrics(opened: asyncio.Future[Journal], registry: CollectorRegistry) -> None:
    if not opened.cancelled() and opened.exception() is None:
        registry.register(IncidentLogMetrics(opened.result()))


def review_messages(
    reviews: list[schemas.IncidentReview], *, together: bool = True
) -> list[tuple[str, bytes, str]]:
    """Subject, payload and Nats-Msg-Id of each message the reviews go in: one per second they fall
    due in (a batch's new incidents all fall due one grouping wait later), so a message is reviewed
    whole when it comes, never sent back for a part due later. The id names its reviews (incident,
    generation, kind): the same reviews asked for again, by a redelivery or another replica, are one
    message. Not ``together`` (an LLM analyses each incident): one review per message, so that one
    incident's failing analysis is retried, and dead-lettered, alone."""
    groups: dict[object, list[schemas.IncidentReview]] = defaultdict(list)
    for n, review in enumerate(reviews):
        groups[review.due.replace(microsecond=0) if together else n].append(review)
    messages = []
    for listed in groups.values():
        names = "\n".join(sorted(f"{r.id}:{r.generation}:{r.kind}" for r in listed))
        msg_id = "reviews:" + hashlib.blake2b(names.encode(), digest_size=16).hexdigest()
        messages.append((schemas.REVIEW, schemas.encode(schemas.IncidentReviews(reviews=listed)), msg_id))
    return messages


class Incidents:
    def __init__(
        self,
        journal: Journal,
        store: IncidentStore,
        correlator: Correlator,
        settings: IncidentSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        roots: RootAnalyses | None = None,
        *,
        reviews_together: bool = True,
    ) -> None:
        self.journal = journal
        self.reviews_together = reviews_together  # see ``review_messages``
        self.store = store  # exemplars, and the reviews' stream
        self.roots = roots  # the roots' own analyses, for their incidents' reviews
        self.correlator = correlator
        self.settings = settings
        self.clock = clock
        self.paused_until: datetime | None = None
        self._placed: dict[str, Placed] = {}
        # One batch of this replica at a time: batches of one replica racing each other on the same
        # shard would only make each other place again; replicas still race, and place again.
        self._turn = asyncio.Lock()
        # Batches waiting for their turn: their messages, where the stream keeps each, by alert id
        # (``prepare_delivered``), and the future their turn settles.
        self._waiting: list[tuple[list[schemas.EnrichedAlert], Mapping[str, int], asyncio.Future[None]]] = []
        # Work that outlives a batch that gives up on it (a step, its reviews' settling), held here:
        # the loop keeps only weak references to tasks.
        self._outliving: set[asyncio.Future[Any]] = set()
        # Alerts of this turn whose entry would not fit even alone (``_committed``): they go on by
        # themselves, and the store, which answers, is not paused for them.
        self._oversized: dict[str, str] = {}  # alert id: why

    def take(self, message: schemas.EnrichedAlert, analysis: schemas.Analysis | None = None) -> Placed:
        """The alert's place; ``analysis``, the rules' answer for it, is kept when it is a root's (only
        a fresh rules answer: a reused or another analyzer's is not what the review would compute)."""
        fresh_rules = analysis is not None and analysis.analyzer == "rules" and not analysis.reused
        if fresh_rules and analysis is not None and self.roots is not None:
            self.roots.analysed(message, analysis)
        return self._placed.pop(message.id, Placed())

    async def prepare_delivered(self, delivered: list[tuple[schemas.EnrichedAlert, int]]) -> None:
        """``prepare`` of messages as the runtime delivers them, each with its stream sequence."""
        await self.prepare([message for message, _ in delivered], first_sequences(delivered))

    async def prepare(
        self, batch: list[schemas.EnrichedAlert], sequences: Mapping[str, int] | None = None
    ) -> None:
        """The batch placed, with every batch that came while the one before was being placed: the
        log's round trips, not its work, bound a batch's time, so batches waiting their turn are
        placed together (one entry per shard for all of them). The turn ends once the entries are
        written; the reviews are awaited after it, before any alert of the batch goes on."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, sequences or {}, done))
        async with self._turn:
            if all(waited is not done for _, _, waited in self._waiting):
                taken = None  # placed in the turn of a batch before it
            else:
                taken, self._waiting = self._waiting, []
                together = [message for listed, _, _ in taken for message in listed]
                where: dict[str, int] = {}
                for _, listed, _ in taken:  # the first batch's first, as ``place`` takes them
                    for alert_id, sequence in listed.items():
                        where.setdefault(alert_id, sequence)
                try:
                    placed, sent = await self._placed_or_degraded(together, where)
                except BaseException:
                    self._waiting = taken + self._waiting  # cancelled: the next turn places them
                    raise
        if taken is None:
            await done
            return
        try:
            async with asyncio.timeout(self.settings.incident_store_timeout_seconds):
                await _all_settled(sent)
        except Exception as exc:
            # Placed, but a review may be missing: the batch comes back, finds itself placed, and
            # asks for its incidents' reviews again; while the store is paused it goes on degraded,
            # so a bucket that is gone never holds alerts back.
            self.paused_until = self.clock() + PAUSE_AFTER_FAILURE
            for _, _, waited in taken:
                if waited is not done:
                    waited.set_exception(exc)
                    waited.exception()  # retrieved: each waiting batch raises it itself
            raise
        for message in together:
            self._placed[message.id] = placed.get(message.id) or Placed(degraded=DEGRADED_REASON)
        for _, _, waited in taken:
            if waited is not done:
                waited.set_result(None)

    async def _placed_or_degraded(
        self, batch: list[schemas.EnrichedAlert], sequences: Mapping[str, int]
    ) -> tuple[dict[str, Placed], list[asyncio.Future[None]]]:
        """Each alert's place, and the settling of the reviews sent. A shard whose entry failed, or was
        not written within the store's timeout, sends its alerts on degraded; the alerts of the
        batch's other shards keep the places their written entries gave them: an alert sent on
        degraded while its incident, written, goes on to be announced would reach the on-call person
        twice."""
        now = self.clock()
        if self.paused_until is not None and now < self.paused_until:
            return {}, []
        written: list[_Written] = []
        deadline = asyncio.timeout(self.settings.incident_store_timeout_seconds)
        try:
            async with deadline:
                await self._place(batch, sequences, now, written)
        except Exception as exc:
            placed, sent = self._placements(batch, written, complete=False)
            going_on = sum(1 for p in placed.values() if p.degraded == DEGRADED_REASON)
            if isinstance(exc, Conflicted):
                # Replicas racing for a shard, a store that answers: these alerts alone go on degraded.
                logger.warning("incident log contended ({}); {} alerts go on one by one", exc, going_on)
            else:
                why = f"{type(exc).__name__}: {exc}"
                if deadline.expired():
                    why = f"not written within {self.settings.incident_store_timeout_seconds}s"
                if not self.journal.ready.is_set():
                    why = "the incident log is still being read"
                logger.warning(
                    "incident store failed ({}); {} of the batch's {} alerts go on one by one, and "
                    "every alert for {}s",
                    why,
                    going_on,
                    len(batch),
                    PAUSE_AFTER_FAILURE.total_seconds(),
                )
                self.paused_until = now + PAUSE_AFTER_FAILURE
            return placed, sent
        self.paused_until = None
        return self._placements(batch, written, complete=True)

    async def _place(
        self,
        batch: list[schemas.EnrichedAlert],
        sequences: Mapping[str, int],
        now: datetime,
        written: list[_Written],
    ) -> None:
        """Each shard's part of the batch placed side by side, each part written added to ``written``
        as it is; the first failure raised once every shard is done."""
        if not self.journal.ready.is_set():  # a replica starting: within the store's timeout, or degraded
            await self.journal.until_ready()
        by_shard: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
        for message in batch:
            if message.replay is None:  # a replay reads its incident, never changes it
                by_shard[shard_of(message.alert)].append(message)
        # Every shard to its end, not only to the first failure: what the others write is kept.
        # Cancelled (the store's timeout), the shards' steps go on and their parts are not counted.
        done = await asyncio.gather(
            *(self._committed(shard, listed, sequences, now, written) for shard, listed in by_shard.items()),
            return_exceptions=True,
        )
        failures = [result for result in done if isinstance(result, BaseException)]
        if failures:  # a store that failed outranks a race lost: it is the one that pauses the store
            raise next((f for f in failures if not isinstance(f, Conflicted)), failures[0])

    def _placements(
        self, batch: list[schemas.EnrichedAlert], written: list[_Written], *, complete: bool
    ) -> tuple[dict[str, Placed], list[asyncio.Future[None]]]:
        """Each alert's place from the parts written: an alert of no part written goes on degraded (a
        replay too, unless every shard was written: it reads its incident from a view that may lag)."""
        records: dict[str, MemberRecord] = {}
        ids: set[str] = set()
        sent: list[asyncio.Future[None]] = []
        for messages, outcome, settling in written:
            ids.update(message.id for message in messages)
            records.update(outcome.records)
            if settling is not None:
                sent.append(settling)
        placed = {}
        for message in batch:
            episode = schemas.episode_key(message.alert)
            record = records.get(episode)
            if message.replay is None:
                unwritten = message.id not in ids
            else:  # a replay reads its incident: this batch's record, else the view once it is whole
                unwritten = record is None and not complete
                if record is None and complete:
                    record = self.journal.view(shard_of(message.alert)).members.get(episode)
            if unwritten:
                too_large = message.id in self._oversized
                placed[message.id] = Placed(degraded=TOO_LARGE_REASON if too_large else DEGRADED_REASON)
                continue
            late = record is not None and not record.incident and message.alert.status == "firing"
            placed[message.id] = Placed(ref=ref(record), degraded=LATE_REASON if late else "")
        if oversized := [self._oversized.pop(m.id) for m in batch if m.id in self._oversized]:
            logger.warning(
                "{} of the batch's {} alerts go on by themselves: their incidents' states, with them, "
                "would be over what the NATS server takes (max_payload; {})",
                len(oversized),
                len(batch),
                oversized[-1],
            )
        return placed, sent

    async def _committed(
        self,
        shard: str,
        messages: list[schemas.EnrichedAlert],
        sequences: Mapping[str, int],
        now: datetime,
        written: list[_Written],
    ) -> None:
        """The shard's part of the batch placed, its entry written and its reviews sent, added to
        ``written``; in parts when the entry would not fit one message (a storm's batches waiting their
        turn together). Each part's entry and sends are one step that a timeout does not cut: an entry
        written is followed by its reviews, even when the batch goes on degraded."""
        if len(messages) > MOST_PER_ENTRY:
            await self._committed(shard, messages[:MOST_PER_ENTRY], sequences, now, written)
            await self._committed(shard, messages[MOST_PER_ENTRY:], sequences, now, written)
            return
        step = self._outlive(self._written(shard, messages, sequences, now), _retrieved)
        try:
            outcome, settling = await asyncio.shield(step)
        except EntryTooLarge as exc:
            if len(messages) < 2:
                # One alert joining an incident whose state, with it, is over what the server takes.
                self._oversized[messages[0].id] = f"{shard}: {exc}"
                return
            half = len(messages) // 2
            await self._committed(shard, messages[:half], sequences, now, written)
            await self._committed(shard, messages[half:], sequences, now, written)
            return
        written.append((messages, outcome, settling))

    async def _written(
        self, shard: str, messages: list[schemas.EnrichedAlert], sequences: Mapping[str, int], now: datetime
    ) -> tuple[Outcome, asyncio.Future[None] | None]:
        def placing(view: ShardView) -> tuple[LogEntry | None, Outcome]:
            return place(view, messages, now, self.correlator, self.settings, sequences)

        outcome = await self.journal.commit(shard, placing, lambda outcome: outcome.reads)
        if self.roots is not None:
            for incident, slot, message in outcome.exemplars:
                if slot == 0:
                    self.roots.expect(incident, message, sequences.get(message.id, 0))
        reviews = review_messages(outcome.reviews, together=self.reviews_together)
        if not reviews:
            return outcome, None
        # Settled to their end, each sent again while unanswered (``_kv.RESEND_SECONDS``), whether the
        # batch still waits for them or has gone on degraded (the store slower than its timeout): the
        # entry is written, so a review lost then would leave its incident unannounced until one of its
        # alerts came back.
        settling = self._outlive(self.store.settle(await self.store.send_all(reviews)), _reviews_settled)
        return outcome, settling

    def _outlive(
        self, work: Coroutine[Any, Any, T], said: Callable[[asyncio.Future[T]], None]
    ) -> asyncio.Future[T]:
        """``work`` as a task held until done, whether or not its batch still waits; ``said`` tells its
        failure, as no one may be waiting to retrieve it."""
        task = asyncio.ensure_future(work)
        self._outliving.add(task)
        task.add_done_callback(self._outliving.discard)
        task.add_done_callback(said)
        return task


def first_sequences(delivered: Iterable[tuple[schemas.EnrichedAlert, int]]) -> dict[str, int]:
    """Each alert id's stream sequence, of its first message that is not a replay: the message
    ``place`` places when two of one id (a re-send and its original) share a batch."""
    sequences: dict[str, int] = {}
    for message, sequence in delivered:
        if message.replay is None:
            sequences.setdefault(message.id, sequence)
    return sequences


async def _all_settled(settlings: list[asyncio.Future[None]]) -> None:
    """Every settling done (waited for without cancelling them: a batch that gives up leaves them
    going); the first failure raised."""
    if settlings:
        await asyncio.wait(settlings)
    for settling in settlings:
        if settling.cancelled():  # the loop stopping: a failure of the batch, not its cancellation
            raise TimeoutError("the reviews' acknowledgements are no longer awaited")
        settling.result()


def _reviews_settled(settling: asyncio.Future[None]) -> None:
    """A batch's reviews unacknowledged to the end (the answer's own timeout, with resends): said, as
    no one may be waiting for them any more."""
    if not settling.cancelled() and (exc := settling.exception()) is not None:
        logger.warning(
            "reviews asked for were not acknowledged ({}: {}); an alert of their incident coming back "
            "(a redelivery, or Alertmanager sending it again) asks for them again",
            type(exc).__name__,
            exc,
        )


def _retrieved(step: asyncio.Future[Any]) -> None:
    """A step that went on after its batch gave up on it: its failure said, not left unretrieved."""
    if not step.cancelled() and (exc := step.exception()) is not None and not isinstance(exc, EntryTooLarge):
        logger.debug("incident placement step failed: {}: {}", type(exc).__name__, exc)
