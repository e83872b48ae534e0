"""The analyst's per-alert side of incidents: place each alert of a batch in its incident.

Once per batch (``prepare``), before any alert of it is handled:

    membership   one read per episode (concurrent): re-sent and redelivered alerts are members already
    correlate    new firing alerts matched against their cluster's open index: one compare-and-set per
                 cluster per batch
    claim        one ``create`` per new member (concurrent): one replica wins an episode, never two
    count        one compare-and-set per touched incident: joins, then resolutions
    exemplars    the messages the incident's analysis will read (the root, distinct alert names)
    review       an ``IncidentReview`` per incident that needs an event (de-duplicated per generation)
    mark         membership records marked counted / resolved, once the reviews are stored: a member
                 left unmarked is how a redelivery finds a review that may not have gone out

``handle`` then reads the alert's place with ``take``. When the store fails or is slower than
INCIDENT_STORE_TIMEOUT_SECONDS, the batch's alerts go on one by one (no incident, the analysis
degraded) and the store is left alone for a while, so an outage never blocks the pipeline.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst._placement import (
    Joins,
    Placed,
    early,
    marked,
    member_of,
    ref,
    rejoined_roots,
    rejoining,
    sort_out,
)
from services.analyst._root_analyses import RootAnalyses
from services.incidents import (
    Assignment,
    Correlator,
    IncidentSettings,
    IncidentState,
    IncidentStore,
    Joining,
    MemberRecord,
    OpenIndex,
    incident_id,
    join,
    new_review,
    resolve_member,
    review_due,
    shard_of,
)

# After a store failure, how long alerts go on one by one before the store is tried again.
PAUSE_AFTER_FAILURE = timedelta(seconds=10)
DEGRADED_REASON = "incident store unavailable: analysed on its own, not grouped into an incident"


def review_message(review: schemas.IncidentReview) -> tuple[str, bytes, str]:
    """Subject, payload and Nats-Msg-Id: one review per incident, generation and kind, however many
    replicas ask for it."""
    msg_id = f"review:{review.id}:{review.generation}:{review.kind}"
    return schemas.REVIEW, schemas.encode(review), msg_id


class Incidents:
    def __init__(
        self,
        store: IncidentStore,
        correlator: Correlator,
        settings: IncidentSettings,
        js: JetStreamContext,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        roots: RootAnalyses | None = None,
    ) -> None:
        self.store = store
        self.roots = roots  # the roots' own analyses, for their incidents' reviews
        self.correlator = correlator
        self.settings = settings
        self.js = js
        self.clock = clock
        self.paused_until: datetime | None = None
        self._placed: dict[str, Placed] = {}
        # One batch of this replica at a time: batches of one replica racing each other on the same
        # index and incident keys would only make each other retry; replicas still race, and retry.
        self._turn = asyncio.Lock()
        self._waiting: list[tuple[list[schemas.EnrichedAlert], asyncio.Future[None]]] = []

    def take(self, message: schemas.EnrichedAlert, analysis: schemas.Analysis | None = None) -> Placed:
        """The alert's place; ``analysis``, the rules' answer for it, is kept when it is a root's (only
        a fresh rules answer: a reused or another analyzer's is not what the review would compute)."""
        fresh_rules = analysis is not None and analysis.analyzer == "rules" and not analysis.reused
        if fresh_rules and analysis is not None and self.roots is not None:
            self.roots.analysed(message, analysis)
        return self._placed.pop(message.id, Placed())

    async def prepare(self, batch: list[schemas.EnrichedAlert]) -> None:
        """The batch placed, with every batch that came while the one before was being placed: the
        store's round trips, not its work, bound a batch's time, so batches waiting their turn are
        placed together (one index read and write, one round of each kind for all of them). The
        turn ends once the writes the next turn reads are acknowledged; the rest (exemplars,
        reviews, marks) are awaited after it, before any alert of the batch goes on."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, done))
        async with self._turn:
            if all(waited is not done for _, waited in self._waiting):
                taken = None  # placed in the turn of a batch before it
            else:
                taken, self._waiting = self._waiting, []
                together = [message for listed, _ in taken for message in listed]
                try:
                    placed, sent, marks = await self._placed_or_degraded(together)
                except BaseException:
                    self._waiting = taken + self._waiting  # cancelled: the next turn places them
                    raise
        if taken is None:
            await done
            return
        try:
            async with asyncio.timeout(self.settings.incident_store_timeout_seconds):
                await self.store.settle(sent)
                await self.store.write_all(marks)
        except Exception as exc:
            # Claimed and counted, but a review may be missing: the batch comes back, its alerts
            # are found counted but unmarked (no second count) and the review is asked for again.
            for _, waited in taken:
                if waited is not done:
                    waited.set_exception(exc)
                    waited.exception()  # retrieved: each waiting batch raises it itself
            raise
        for message in together:
            self._placed[message.id] = placed.get(message.id) or Placed(degraded=DEGRADED_REASON)
        for _, waited in taken:
            if waited is not done:
                waited.set_result(None)

    async def _placed_or_degraded(
        self, batch: list[schemas.EnrichedAlert]
    ) -> tuple[dict[str, Placed], list[asyncio.Future[Any]], list[tuple[str, bytes]]]:
        now = self.clock()
        if self.paused_until is None or now >= self.paused_until:
            try:
                async with asyncio.timeout(self.settings.incident_store_timeout_seconds):
                    placed = await self._place(batch, now)
                self.paused_until = None
                return placed
            except Exception as exc:
                logger.warning(
                    "incident store failed ({}: {}); alerts go on one by one for {}s",
                    type(exc).__name__,
                    exc,
                    PAUSE_AFTER_FAILURE.total_seconds(),
                )
                self.paused_until = now + PAUSE_AFTER_FAILURE
        return {}, [], []

    async def _place(
        self, batch: list[schemas.EnrichedAlert], now: datetime
    ) -> tuple[dict[str, Placed], list[asyncio.Future[Any]], list[tuple[str, bytes]]]:
        """Each alert's place; the writes sent (exemplars, reviews) and the marks to send once they
        are stored."""
        episodes = list(dict.fromkeys(schemas.episode_key(m.alert) for m in batch))
        records = dict(zip(episodes, await self.store.members(episodes), strict=True))
        live = [m for m in batch if m.replay is None]  # a replay reads its incident, never changes it
        newcomers: dict[str, schemas.EnrichedAlert] = {}
        for message in live:
            episode = schemas.episode_key(message.alert)
            if message.alert.status == "firing" and records[episode] is None:
                newcomers.setdefault(episode, message)
        indexes: dict[str, OpenIndex] = {}  # the shards' indexes as this batch wrote (or read) them
        joinings = await self._claim(list(newcomers.values()), records, now, indexes)
        if wanted := rejoined_roots(live, records, joinings) - indexes.keys():
            indexes.update(await self.store.indexes(sorted(wanted)))

        joins, resolves = sort_out(
            live, records, joinings, lambda alert: self.correlator.when(alert, now), indexes
        )
        touched = list(dict.fromkeys([*joins, *resolves]))
        changes = await self._count(touched, records, joins, resolves, now)
        reviews = [review for before, after in changes if (review := self._asked(before, after, now))]
        # Exemplars and reviews go out side by side, their acks awaited once; the marks after them.
        sent = await self.store.send_all(
            [kept for _, after in changes for kept in self._exemplars(after, joins.get(after.id, []))],
            [review_message(review) for review in reviews],
        )
        marks = [self.store.marking(e, r) for e, r in marked(records, joins, resolves).items()]
        placed = {}
        for message in batch:
            episode = schemas.episode_key(message.alert)
            record = records[episode]
            late = message.replay is None and early(message, record, episode in joinings)
            placed[message.id] = Placed(ref=ref(record), early=late)
        return placed, sent, marks

    def _asked(
        self, before: IncidentState | None, after: IncidentState, now: datetime
    ) -> schemas.IncidentReview | None:
        """The review to publish for a touched incident. Its state unchanged although the batch had
        unmarked members for it means an earlier delivery counted them and did not finish (killed,
        or its writes unacknowledged): its review may never have gone out, so it is asked for again
        (the review's Nats-Msg-Id drops the copy if it did)."""
        review = new_review(before, after, self.settings, now)
        if review is None and before == after:
            review = review_due(after, self.settings, now)
        return review

    async def _claim(
        self,
        newcomers: list[schemas.EnrichedAlert],
        records: dict[str, MemberRecord | None],
        now: datetime,
        indexes: dict[str, OpenIndex],
    ) -> dict[str, Joining]:
        """New firing alerts correlated (per cluster, each shard's index as written kept in ``indexes``)
        and their membership claimed."""
        by_shard: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
        for message in newcomers:
            by_shard[shard_of(message.alert)].append(message)
        shards = list(by_shard)
        outcomes = await asyncio.gather(
            *(
                self.store.correlate(shard, self._assigner(shard, by_shard[shard], now, indexes))
                for shard in shards
            )
        )
        joinings: dict[str, tuple[Joining, str]] = {}
        for shard, assignments in zip(shards, outcomes, strict=True):
            for a in assignments:
                joinings[a.episode] = (
                    Joining(
                        a.episode,
                        a.incident_id,
                        a.role,
                        tuple(a.signals),
                        new_root=a.new_root,
                        refines=a.refines,
                    ),
                    shard,
                )
        for message in newcomers:  # the correlator places every firing alert; this is a safety net
            episode = schemas.episode_key(message.alert)
            if episode not in joinings:
                joinings[episode] = (Joining(episode, incident_id(episode), "root"), shard_of(message.alert))
        episodes = list(joinings)
        claimed = await self.store.claim_all(
            [
                (
                    episode,
                    MemberRecord(
                        incident=joining.incident_id,
                        role=joining.role,
                        signals=list(joining.signals),
                        shard=shard,
                    ),
                )
                for episode, (joining, shard) in joinings.items()
            ]
        )
        kept: dict[str, Joining] = {}
        for episode, record in zip(episodes, claimed, strict=True):
            records[episode] = record
            joining = joinings[episode][0]
            # Another replica claimed the episode first: its record stands, whatever ours said.
            if record.incident != joining.incident_id:
                joining = rejoining(episode, record, indexes)
            kept[episode] = joining
        return kept

    def _assigner(
        self, shard: str, messages: list[schemas.EnrichedAlert], now: datetime, indexes: dict[str, OpenIndex]
    ) -> Callable[[OpenIndex], tuple[OpenIndex, list[Assignment]]]:
        def assign(index: OpenIndex) -> tuple[OpenIndex, list[Assignment]]:
            indexes[shard], assignments = self.correlator.assign(index, messages, now)
            return indexes[shard], assignments  # the last attempt is the one written

        return assign

    async def _count(
        self,
        touched: list[str],
        records: dict[str, MemberRecord | None],
        joins: Joins,
        resolves: dict[str, list[schemas.EnrichedAlert]],
        now: datetime,
    ) -> list[tuple[IncidentState | None, IncidentState]]:
        """Each touched incident's state before and after this batch's joins and resolutions: one
        read and one compare-and-set write each, all at once (no read for incidents the batch opened)."""
        shards = {r.incident: r.shard for r in records.values() if r is not None}
        before: dict[str, IncidentState | None] = {}

        def changer(incident_id: str) -> Callable[[IncidentState | None], IncidentState | None]:
            def change(state: IncidentState | None) -> IncidentState | None:
                before[incident_id] = state
                for message, joining in joins.get(incident_id, []):
                    shard = shards.get(incident_id, "_")
                    state = join(state, member_of(message), joining, now, shard=shard)
                for message in resolves.get(incident_id, []):
                    if state is not None:
                        episode = schemas.episode_key(message.alert)
                        state = resolve_member(state, episode, message.alert.ends_at, now, self.settings)
                return state

            return change

        # An incident whose id derives from a joining episode was most likely opened by it now.
        opened = frozenset(
            i for i in touched if any(incident_id(j.episode) == i for _, j in joins.get(i, []))
        )
        after = await self.store.change_states({i: changer(i) for i in touched}, opened)
        changes: list[tuple[IncidentState | None, IncidentState]] = []
        for i in touched:
            state = after[i]
            if state is None:  # resolutions of an incident the store no longer has
                state = IncidentState(id=i, status="resolved", opened_at=now, updated_at=now)
                changes.append((None, state))
            else:
                changes.append((before.get(i), state))
        return changes

    def _exemplars(
        self, state: IncidentState, joins: list[tuple[schemas.EnrichedAlert, Joining]]
    ) -> list[tuple[str, bytes]]:
        messages = {joining.episode: message for message, joining in joins}
        kept = []
        for slot, exemplar in enumerate(state.exemplars):
            if exemplar.episode in messages:
                key, encoded = self.store.exemplar(state.id, slot, messages[exemplar.episode])
                if slot == 0 and self.roots is not None:
                    self.roots.expect(messages[exemplar.episode], encoded)
                kept.append((key, encoded))
        return kept
