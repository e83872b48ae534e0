"""The analyst's per-alert side of incidents: place each alert of a batch in its incident.

Once per batch (``prepare``), before any alert of it is handled:

    membership   one read per episode (concurrent): re-sent and redelivered alerts are members already
    correlate    new firing alerts matched against their cluster's open index: one compare-and-set per
                 cluster per batch
    claim        one ``create`` per new member (concurrent): one replica wins an episode, never two
    count        one compare-and-set per touched incident: joins, then resolutions
    exemplars    the messages the incident's analysis will read (the root, distinct alert names)
    review       an ``IncidentReview`` per incident that needs an event (de-duplicated per generation)
    mark         membership records marked counted / resolved

``handle`` then reads the alert's place with ``take``. When the store fails or is slower than
INCIDENT_STORE_TIMEOUT_SECONDS, the batch's alerts go on one by one (no incident, the analysis
degraded) and the store is left alone for a while, so an outage never blocks the pipeline.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst._placement import Placed, marked, member_of, ref, rejoining, sort_out
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
    shard_of,
)

# After a store failure, how long alerts go on one by one before the store is tried again.
PAUSE_AFTER_FAILURE = timedelta(seconds=10)
DEGRADED_REASON = "incident store unavailable: analysed on its own, not grouped into an incident"


async def publish_review(js: JetStreamContext, review: schemas.IncidentReview) -> None:
    """One review per incident, generation and kind, however many replicas ask for it."""
    msg_id = f"review:{review.id}:{review.generation}:{review.kind}"
    await js.publish(schemas.REVIEW, schemas.encode(review), headers={schemas.MSG_ID_HEADER: msg_id})


class Incidents:
    def __init__(
        self,
        store: IncidentStore,
        correlator: Correlator,
        settings: IncidentSettings,
        js: JetStreamContext,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.correlator = correlator
        self.settings = settings
        self.js = js
        self.clock = clock
        self.paused_until: datetime | None = None
        self._placed: dict[str, Placed] = {}
        # One batch of this replica at a time: batches of one replica racing each other on the same
        # index and incident keys would only make each other retry; replicas still race, and retry.
        self._turn = asyncio.Lock()

    def take(self, message: schemas.EnrichedAlert) -> Placed:
        return self._placed.pop(message.id, Placed())

    async def prepare(self, batch: list[schemas.EnrichedAlert]) -> None:
        async with self._turn:
            placed = await self._placed_or_degraded(batch)
        for message in batch:
            self._placed[message.id] = placed.get(message.id) or Placed(degraded=DEGRADED_REASON)

    async def _placed_or_degraded(self, batch: list[schemas.EnrichedAlert]) -> dict[str, Placed]:
        now = self.clock()
        placed: dict[str, Placed] = {}
        if self.paused_until is None or now >= self.paused_until:
            try:
                async with asyncio.timeout(self.settings.incident_store_timeout_seconds):
                    placed = await self._place(batch, now)
                self.paused_until = None
            except Exception as exc:
                logger.warning(
                    "incident store failed ({}: {}); alerts go on one by one for {}s",
                    type(exc).__name__,
                    exc,
                    PAUSE_AFTER_FAILURE.total_seconds(),
                )
                self.paused_until = now + PAUSE_AFTER_FAILURE
        return placed

    async def _place(self, batch: list[schemas.EnrichedAlert], now: datetime) -> dict[str, Placed]:
        episodes = list(dict.fromkeys(schemas.episode_key(m.alert) for m in batch))
        records = dict(zip(episodes, await self.store.members(episodes), strict=True))
        live = [m for m in batch if m.replay is None]  # a replay reads its incident, never changes it
        newcomers: dict[str, schemas.EnrichedAlert] = {}
        for message in live:
            episode = schemas.episode_key(message.alert)
            if message.alert.status == "firing" and records[episode] is None:
                newcomers.setdefault(episode, message)
        joinings = await self._claim(list(newcomers.values()), records, now)

        joins, resolves = sort_out(live, records, joinings, lambda alert: self.correlator.when(alert, now))
        touched = list(dict.fromkeys([*joins, *resolves]))
        changes = await asyncio.gather(
            *(self._count(i, records, joins.get(i, []), resolves.get(i, []), now) for i in touched)
        )
        await asyncio.gather(*(self._keep_exemplars(after, joins.get(after.id, [])) for _, after in changes))
        reviews = [
            review
            for before, after in changes
            if (review := new_review(before, after, self.settings, now)) is not None
        ]
        await asyncio.gather(
            *(publish_review(self.js, review) for review in reviews),
            *(
                self.store.mark(episode, record)
                for episode, record in marked(records, joins, resolves).items()
            ),
        )
        return {message.id: Placed(ref=ref(records[schemas.episode_key(message.alert)])) for message in batch}

    async def _claim(
        self, newcomers: list[schemas.EnrichedAlert], records: dict[str, MemberRecord | None], now: datetime
    ) -> dict[str, Joining]:
        """New firing alerts correlated (per cluster) and their membership claimed."""
        by_shard: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
        for message in newcomers:
            by_shard[shard_of(message.alert)].append(message)
        shards = list(by_shard)
        outcomes = await asyncio.gather(
            *(self.store.correlate(shard, self._assigner(by_shard[shard], now)) for shard in shards)
        )
        joinings: dict[str, tuple[Joining, str]] = {}
        for shard, assignments in zip(shards, outcomes, strict=True):
            for a in assignments:
                joinings[a.episode] = (
                    Joining(a.episode, a.incident_id, a.role, tuple(a.signals), new_root=a.new_root),
                    shard,
                )
        for message in newcomers:  # the correlator places every firing alert; this is a safety net
            episode = schemas.episode_key(message.alert)
            if episode not in joinings:
                joinings[episode] = (Joining(episode, incident_id(episode), "root"), shard_of(message.alert))
        episodes = list(joinings)
        claimed = await asyncio.gather(
            *(
                self.store.claim(
                    episode,
                    MemberRecord(
                        incident=joining.incident_id,
                        role=joining.role,
                        signals=list(joining.signals),
                        shard=shard,
                    ),
                )
                for episode, (joining, shard) in joinings.items()
            )
        )
        kept: dict[str, Joining] = {}
        for episode, record in zip(episodes, claimed, strict=True):
            records[episode] = record
            joining = joinings[episode][0]
            # Another replica claimed the episode first: its record stands, whatever ours said.
            kept[episode] = joining if record.incident == joining.incident_id else rejoining(episode, record)
        return kept

    def _assigner(
        self, messages: list[schemas.EnrichedAlert], now: datetime
    ) -> Callable[[OpenIndex], tuple[OpenIndex, list[Assignment]]]:
        return lambda index: self.correlator.assign(index, messages, now)

    async def _count(
        self,
        incident_id: str,
        records: dict[str, MemberRecord | None],
        joins: list[tuple[schemas.EnrichedAlert, Joining]],
        resolves: list[schemas.EnrichedAlert],
        now: datetime,
    ) -> tuple[IncidentState | None, IncidentState]:
        """The incident's state before and after this batch's joins and resolutions."""
        shard = next((r.shard for r in records.values() if r is not None and r.incident == incident_id), "_")
        before: list[IncidentState | None] = [None]

        def change(state: IncidentState | None) -> IncidentState | None:
            before[0] = state
            for message, joining in joins:
                state = join(state, member_of(message), joining, now, shard=shard)
            for message in resolves:
                if state is not None:
                    episode = schemas.episode_key(message.alert)
                    state = resolve_member(state, episode, message.alert.ends_at, now, self.settings)
            return state

        state = await self.store.change_state(incident_id, change)
        if state is None:  # resolutions of an incident the store no longer has
            return None, IncidentState(id=incident_id, status="resolved", opened_at=now, updated_at=now)
        return before[0], state

    async def _keep_exemplars(
        self, state: IncidentState, joins: list[tuple[schemas.EnrichedAlert, Joining]]
    ) -> None:
        messages = {joining.episode: message for message, joining in joins}
        await asyncio.gather(
            *(
                self.store.keep_exemplar(state.id, slot, messages[exemplar.episode])
                for slot, exemplar in enumerate(state.exemplars)
                if exemplar.episode in messages
            )
        )
