"""Incident state in a JetStream key-value bucket, shared by every analyst replica.

    index.<shard>             OpenIndex: the incidents alerts of one cluster are matched against
    incident.<id>             IncidentState
    member.<sha of episode>   MemberRecord: which incident an alert episode belongs to
    exemplar.<id>.<slot>      EnrichedAlert kept for the incident's analysis (slot 0: the root)

Every update is a compare-and-set on the key's revision: a replica that lost the race reads the
winner's value and applies its change again, so replicas never overwrite each other. A member is
claimed with ``create`` (one replica wins, a redelivery finds it), counted in the state (idempotent:
``IncidentState.applied``), then marked counted, so a crash between any two writes is finished by
the redelivery without counting anyone twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

import schemas
from services.incidents._index import OpenIndex
from services.incidents._lifecycle import IncidentState
from services.runtime import NatsSettings, key_value_bucket

T = TypeVar("T")
# A KV key token: a cluster label with other characters is hashed instead.
_KEY_SAFE = re.compile(r"[-_=A-Za-z0-9]{1,64}")
# The most one cluster's open index may weigh: a KV value is at most the server's max payload (1 MiB).
INDEX_MAX_BYTES = 256 * 1024
# Longer than any incident lives (reopen window) and any alert fires unnoticed; every write renews it.
BUCKET_TTL_SECONDS = 7 * 86400


class MemberRecord(msgspec.Struct, kw_only=True, frozen=True):
    """An alert episode's membership: written once (``create``), then marked as it is applied."""

    incident: str
    role: schemas.MemberRole
    signals: list[str] = []
    shard: str = "_"
    counted: bool = False
    resolved: bool = False


class Conflicted(Exception):
    """A compare-and-set kept losing; the caller degrades or retries the batch."""


def shard_of(alert: schemas.Alert) -> str:
    """The index an alert is matched in: its cluster's (alerts of different clusters never group)."""
    cluster = alert.labels.get("cluster", "")
    if not cluster:
        return "_"
    if _KEY_SAFE.fullmatch(cluster):
        return cluster
    return "h" + hashlib.sha256(cluster.encode()).hexdigest()[:16]


def member_key(episode: str) -> str:
    return "member." + hashlib.sha256(episode.encode()).hexdigest()[:40]


class IncidentStore:
    def __init__(self, kv: KeyValue, attempts: int = 200) -> None:
        self.kv = kv
        self.attempts = attempts

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, settings: NatsSettings) -> IncidentStore:
        description = "Incidents: open index, state, membership, exemplars (aiops analyst)"
        return cls(await key_value_bucket(js, settings, bucket, description, BUCKET_TTL_SECONDS))

    # ---- compare-and-set ------------------------------------------------------------------------
    async def _read(self, key: str, kind: type[T]) -> tuple[T | None, int]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None, 0
        revision = entry.revision or 0
        if not entry.value:
            return None, revision
        try:
            return schemas.decode(entry.value, kind), revision
        except (msgspec.DecodeError, msgspec.ValidationError):
            # Unreadable (written by a newer, incompatible version): replaced by the next write.
            return None, revision

    async def _cas(self, key: str, kind: type[T], change: Callable[[T | None], T | None]) -> T | None:
        """``change`` applied to the current value until the write wins; None from it writes nothing."""
        for attempt in range(self.attempts):
            current, revision = await self._read(key, kind)
            updated = change(current)
            if updated is None or updated is current:
                return current
            value = schemas.encode(updated)
            try:
                if revision == 0:
                    await self.kv.create(key, value)
                else:
                    await self.kv.update(key, value, last=revision)
                return updated
            except KeyWrongLastSequenceError:
                # Another replica wrote first: read its value and apply ours again. The pause, random
                # and growing, keeps many replicas on one key from colliding in lockstep.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise Conflicted(f"{key}: {self.attempts} conflicting updates")

    # ---- the open index -------------------------------------------------------------------------
    async def correlate(self, shard: str, assign: Callable[[OpenIndex], tuple[OpenIndex, T]]) -> T:
        """``assign`` run on the shard's index and its result saved; re-run on a conflict."""
        outcome: list[T] = []

        def change(index: OpenIndex | None) -> OpenIndex:
            updated, result = assign(index or OpenIndex())
            outcome[:] = [result]
            return bounded(updated)

        await self._cas(f"index.{shard}", OpenIndex, change)
        return outcome[0]

    async def change_index(self, shard: str, change: Callable[[OpenIndex], OpenIndex | None]) -> None:
        await self._cas(f"index.{shard}", OpenIndex, lambda index: None if index is None else change(index))

    # ---- membership -----------------------------------------------------------------------------
    async def members(self, episodes: list[str]) -> list[MemberRecord | None]:
        found = await asyncio.gather(*(self._read(member_key(episode), MemberRecord) for episode in episodes))
        return [record for record, _ in found]

    async def claim(self, episode: str, record: MemberRecord) -> MemberRecord:
        """``record`` written unless the episode has one already; the one that stands is returned."""
        try:
            await self.kv.create(member_key(episode), schemas.encode(record))
            return record
        except KeyWrongLastSequenceError:
            existing, _ = await self._read(member_key(episode), MemberRecord)
            return existing or record

    async def mark(self, episode: str, record: MemberRecord) -> None:
        await self.kv.put(member_key(episode), schemas.encode(record))

    # ---- incident state -------------------------------------------------------------------------
    async def state(self, incident_id: str) -> tuple[IncidentState | None, int]:
        return await self._read(f"incident.{incident_id}", IncidentState)

    async def change_state(
        self, incident_id: str, change: Callable[[IncidentState | None], IncidentState | None]
    ) -> IncidentState | None:
        return await self._cas(f"incident.{incident_id}", IncidentState, change)

    # ---- exemplars ------------------------------------------------------------------------------
    async def keep_exemplar(self, incident_id: str, slot: int, message: schemas.EnrichedAlert) -> None:
        await self.kv.put(f"exemplar.{incident_id}.{slot}", schemas.encode(message))

    async def exemplars(self, incident_id: str, slots: int) -> list[schemas.EnrichedAlert]:
        found = await asyncio.gather(
            *(self._read(f"exemplar.{incident_id}.{slot}", schemas.EnrichedAlert) for slot in range(slots)),
            return_exceptions=True,
        )
        # An exemplar that was never written (a crash after the state was saved) leaves a gap only.
        return [value for value, _ in _values(found) if value is not None]


def bounded(index: OpenIndex, limit: int = INDEX_MAX_BYTES) -> OpenIndex:
    """``index`` within ``limit`` bytes: beyond it, the incidents that grew least and were quiet longest
    are forgotten by matching (their state stays). Thousands of unrelated alerts at once would otherwise
    grow one value past what the server accepts, and every batch would pay to read it."""
    size = len(schemas.encode(index))
    if size <= limit or not index.entries:
        return index
    keep = max(1, int(len(index.entries) * limit / size * 0.9))
    ranked = sorted(index.entries, key=lambda entry: (entry.member_count > 1, entry.last_at), reverse=True)
    return OpenIndex(entries=ranked[:keep])


def _values(found: list[Any]) -> list[tuple[Any, int]]:
    return [item for item in found if isinstance(item, tuple)]
