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

Reads and writes go through ``_kv.Pipe``: a batch sends all its keys of one step at once and
awaits their answers once (``*_all`` methods), and only the keys another writer won go round the
compare-and-set loop again.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from loguru import logger
from nats.aio.client import ServerVersion
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

import schemas
from services.incidents._index import IndexEntry, OpenIndex
from services.incidents._kv import Conflict, Pipe
from services.incidents._lifecycle import IncidentState
from services.runtime import NatsSettings, key_value_bucket

T = TypeVar("T")
# A KV key token: a cluster label with other characters is hashed instead.
_KEY_SAFE = re.compile(r"[-_=A-Za-z0-9]{1,64}")
# The most one cluster's open index may weigh: a KV value is at most the server's max payload (1 MiB).
INDEX_MAX_BYTES = 256 * 1024
# Longer than any incident lives (reopen window) and any alert fires unnoticed; every write renews it.
BUCKET_TTL_SECONDS = 7 * 86400


class MemberRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
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
        # nats-py's KeyValue keeps its connection and bucket name private; the pipe needs both.
        self.pipe = Pipe(kv._js._nc, kv._name)
        # Each shard's index as this replica last wrote it, by revision (``correlate``). The correlator
        # never changes an index it is given, so the value stays what the revision holds.
        self._indexes: dict[str, tuple[int, OpenIndex]] = {}
        self._encoders: dict[str, IndexEncoder] = {}  # by index key: the entries' bytes as last written

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, settings: NatsSettings) -> IncidentStore:
        description = "Incidents: open index, state, membership, exemplars (aiops analyst)"
        store = cls(await key_value_bucket(js, settings, bucket, description, BUCKET_TTL_SECONDS))
        store.pipe.direct = await allow_direct(js, f"KV_{bucket}")
        store.pipe.batched = store.pipe.direct and batched_reads(js._nc.connected_server_version)
        return store

    # ---- compare-and-set ------------------------------------------------------------------------
    async def _read(self, key: str, kind: type[T], *, latest: bool = False) -> tuple[T | None, int]:
        return (await self._read_all([key], kind, latest=latest))[0]

    async def _read_all(
        self, keys: Sequence[str], kind: type[T], *, latest: bool = False
    ) -> list[tuple[T | None, int]]:
        read = await self.pipe.get_many(keys, latest=latest)
        return [(_decoded(value, kind), revision) for value, revision in read]

    async def _cas(
        self,
        key: str,
        kind: type[T],
        change: Callable[[T | None], T | None],
        known: tuple[T | None, int] | None = None,
        *,
        lost: bool = False,
    ) -> T | None:
        """``change`` applied to the current value until the write wins; None from it writes nothing.
        ``known``: the value and revision the caller read, tried before reading again; ``lost``: the
        caller's write of it lost a race already."""
        for attempt in range(self.attempts):
            if known is not None and attempt == 0:
                current, revision = known
            else:  # after a lost race, from the leader: a replica's copy may not have the winner yet
                current, revision = await self._read(key, kind, latest=attempt > 0 or lost)
            updated = change(current)
            if updated is None or updated is current:
                return current
            (written,) = await self.pipe.settle(
                [await self.pipe.write(key, schemas.encode(updated), revision)]
            )
            if not isinstance(written, Conflict):
                return updated
            # Another replica wrote first: read its value and apply ours again. The pause, random
            # and growing, keeps many replicas on one key from colliding in lockstep.
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise Conflicted(f"{key}: {self.attempts} conflicting updates")

    async def _cas_all(
        self,
        key_of: Callable[[str], str],
        kind: type[T],
        changes: dict[str, Callable[[T | None], T | None]],
        absent: frozenset[str] = frozenset(),
        known: dict[str, tuple[T | None, int]] | None = None,
    ) -> dict[str, T | None]:
        """``_cas`` of many keys at once: one read of each (none for those in ``absent``, expected
        new, nor for those ``known``: the value and revision the caller read), one write of each, and
        the usual loop only for the keys another writer won."""
        names = list(changes)
        known = known or {}
        read = [name for name in names if name not in absent and name not in known]
        found = dict(zip(read, await self._read_all([key_of(name) for name in read], kind), strict=True))
        found.update(known)
        outcome: dict[str, T | None] = {}
        writes: list[tuple[str, T, Any]] = []
        for name in names:
            current, revision = found.get(name, (None, 0))
            updated = changes[name](current)
            if updated is None or updated is current:
                outcome[name] = current
            else:
                writes.append(
                    (name, updated, await self.pipe.write(key_of(name), schemas.encode(updated), revision))
                )
        settled = await self.pipe.settle([future for _, _, future in writes])
        lost = []
        for (name, updated, _), written in zip(writes, settled, strict=True):
            if isinstance(written, Conflict):
                lost.append(name)
            else:
                outcome[name] = updated
        again = await asyncio.gather(
            *(self._cas(key_of(name), kind, changes[name], lost=True) for name in lost)
        )
        outcome.update(zip(lost, again, strict=True))
        return outcome

    # ---- the open index -------------------------------------------------------------------------
    async def correlate(self, shard: str, assign: Callable[[OpenIndex], tuple[OpenIndex, T]]) -> T:
        """``assign`` run on the shard's index and its result saved; re-run on a conflict.

        The index is the one value every batch reads and writes whole (up to INDEX_MAX_BYTES): it is
        decoded only when another writer changed it since this replica last wrote or read it (the
        revision says so), and encoded once per write."""
        key = f"index.{shard}"
        for attempt in range(self.attempts):
            # After a lost race, from the leader: a replica's copy may not have the winner yet.
            ((value, revision),) = await self.pipe.get_many([key], latest=attempt > 0)
            known = self._indexes.get(key)
            if known is not None and known[0] == revision and revision:
                index = known[1]
            else:
                index = _decoded(value, OpenIndex) or OpenIndex()
            updated, result = assign(index)
            updated, encoded = self._encoders.setdefault(key, IndexEncoder()).bounded(updated)
            (written,) = await self.pipe.settle([await self.pipe.write(key, encoded, revision)])
            if not isinstance(written, Conflict):
                self._indexes[key] = (written, updated)
                return result
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
        raise Conflicted(f"{key}: {self.attempts} conflicting updates")

    async def indexes(self, shards: Sequence[str]) -> dict[str, OpenIndex]:
        """The shards' indexes as their leader has them (an empty one for a shard without)."""
        found = await self._read_all([f"index.{shard}" for shard in shards], OpenIndex, latest=True)
        return {shard: index or OpenIndex() for shard, (index, _) in zip(shards, found, strict=True)}

    async def change_index(self, shard: str, change: Callable[[OpenIndex], OpenIndex | None]) -> None:
        await self._cas(f"index.{shard}", OpenIndex, lambda index: None if index is None else change(index))

    # ---- membership -----------------------------------------------------------------------------
    async def members(self, episodes: list[str]) -> list[MemberRecord | None]:
        found = await self._read_all([member_key(episode) for episode in episodes], MemberRecord)
        return [record for record, _ in found]

    async def claim(self, episode: str, record: MemberRecord) -> MemberRecord:
        """``record`` written unless the episode has one already; the one that stands is returned."""
        return (await self.claim_all([(episode, record)]))[0]

    async def claim_all(self, claims: Sequence[tuple[str, MemberRecord]]) -> list[MemberRecord]:
        """``claim`` of many episodes at once: one ``create`` each, a read only for those taken."""
        futures = [await self.pipe.write(member_key(e), schemas.encode(record), 0) for e, record in claims]
        written = await self.pipe.settle(futures)
        taken = [i for i, result in enumerate(written) if isinstance(result, Conflict)]
        existing = [
            record
            for record, _ in await self._read_all(
                [member_key(claims[i][0]) for i in taken], MemberRecord, latest=True
            )
        ]
        standing = [record for _, record in claims]
        for i, record in zip(taken, existing, strict=True):
            standing[i] = record or standing[i]
        return standing

    async def mark(self, episode: str, record: MemberRecord) -> None:
        await self.write_all([self.marking(episode, record)])

    def marking(self, episode: str, record: MemberRecord) -> tuple[str, bytes]:
        return member_key(episode), schemas.encode(record)

    async def write_all(
        self, puts: Sequence[tuple[str, bytes]], messages: Sequence[tuple[str, bytes, str]] = ()
    ) -> None:
        """Keys written and stream messages published (subject, payload, Nats-Msg-Id), side by side."""
        await self.settle(await self.send_all(puts, messages))

    async def send_all(
        self, puts: Sequence[tuple[str, bytes]], messages: Sequence[tuple[str, bytes, str]] = ()
    ) -> list[asyncio.Future[Any]]:
        """``write_all`` sent, its acks to ``settle`` later."""
        futures = [await self.pipe.write(key, value) for key, value in puts]
        futures += [
            await self.pipe.send(subject, payload, {schemas.MSG_ID_HEADER: msg_id})
            for subject, payload, msg_id in messages
        ]
        return futures

    async def settle(self, futures: Sequence[asyncio.Future[Any]]) -> None:
        """Every write sent acknowledged; KvError when one was refused, TimeoutError when unanswered."""
        await self.pipe.settle(futures)

    # ---- incident state -------------------------------------------------------------------------
    async def state(self, incident_id: str) -> tuple[IncidentState | None, int]:
        return await self._read(f"incident.{incident_id}", IncidentState)

    async def states(self, incident_ids: Sequence[str]) -> list[tuple[IncidentState | None, int]]:
        """``state`` of many incidents, read side by side."""
        return await self._read_all([_state_key(i) for i in incident_ids], IncidentState)

    async def change_state(
        self,
        incident_id: str,
        change: Callable[[IncidentState | None], IncidentState | None],
        known: tuple[IncidentState | None, int] | None = None,
    ) -> IncidentState | None:
        return await self._cas(f"incident.{incident_id}", IncidentState, change, known)

    async def change_states(
        self,
        changes: dict[str, Callable[[IncidentState | None], IncidentState | None]],
        new: frozenset[str] = frozenset(),
        known: dict[str, tuple[IncidentState | None, int]] | None = None,
    ) -> dict[str, IncidentState | None]:
        """``change_state`` of many incidents at once; those in ``new`` (opened by this batch) are
        not read first: they are created, or read and changed if another writer has them already;
        those ``known`` are tried with the value and revision given before being read again."""
        return await self._cas_all(_state_key, IncidentState, changes, new, known)

    async def publish_all(self, messages: Sequence[tuple[str, bytes, str]]) -> list[bool]:
        """Stream messages (subject, payload, Nats-Msg-Id) published side by side, their acks awaited
        together; for each, whether the stream had it already (a duplicate)."""
        futures = [
            await self.pipe.send(subject, payload, {schemas.MSG_ID_HEADER: msg_id})
            for subject, payload, msg_id in messages
        ]
        return await self.pipe.published(futures)

    # ---- exemplars ------------------------------------------------------------------------------
    def exemplar(self, incident_id: str, slot: int, message: schemas.EnrichedAlert) -> tuple[str, bytes]:
        return f"exemplar.{incident_id}.{slot}", schemas.encode(message)

    async def keep_exemplar(self, incident_id: str, slot: int, message: schemas.EnrichedAlert) -> None:
        await self.write_all([self.exemplar(incident_id, slot, message)])

    async def exemplars(self, incident_id: str, slots: int) -> list[schemas.EnrichedAlert]:
        return [message for message, _ in await self.exemplars_kept(incident_id, slots)]

    async def exemplars_kept(self, incident_id: str, slots: int) -> list[tuple[schemas.EnrichedAlert, bytes]]:
        """The exemplars, each with the bytes it is kept as."""
        return (await self.exemplars_of([(incident_id, slots)]))[0]

    async def exemplars_of(
        self, incidents: Sequence[tuple[str, int]]
    ) -> list[list[tuple[schemas.EnrichedAlert, bytes]]]:
        """``exemplars_kept`` of many incidents (id, slots), read side by side."""
        keys = [f"exemplar.{incident_id}.{slot}" for incident_id, slots in incidents for slot in range(slots)]
        read = iter(await self.pipe.get_many(keys))
        found = []
        for _, slots in incidents:
            kept = []
            # An exemplar that was never written (a crash after the state was saved) leaves a gap only.
            for value, _ in itertools.islice(read, slots):
                message = _decoded(value, schemas.EnrichedAlert)
                if message is not None and value is not None:
                    kept.append((message, value))
            found.append(kept)
        return found


async def allow_direct(js: JetStreamContext, stream: str) -> bool:
    """The bucket's stream answers reads itself (``allow_direct``), turned on if it was created without."""
    try:
        info = await js.stream_info(stream)
        if not info.config.allow_direct:
            info.config.allow_direct = True
            await js.update_stream(info.config)
        return True
    except Exception as exc:  # reads through the JetStream API still work, only slower
        logger.warning("cannot turn on direct reads of {} ({}: {})", stream, type(exc).__name__, exc)
        return False


def batched_reads(version: ServerVersion) -> bool:
    """Whether the server reads many keys in one request (``multi_last`` direct reads: 2.11 on)."""
    try:
        return (version.major, version.minor) >= (2, 11)
    except (TypeError, ValueError, AttributeError):  # an unparsable version: read key by key
        return False


def _state_key(incident_id: str) -> str:
    return f"incident.{incident_id}"


def _decoded(value: bytes | None, kind: type[T]) -> T | None:
    if not value:
        return None
    try:
        return schemas.decode(value, kind)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # Unreadable (written by a newer, incompatible version): replaced by the next write.
        return None


def bounded(index: OpenIndex, limit: int = INDEX_MAX_BYTES) -> OpenIndex:
    """``index`` within ``limit`` bytes: beyond it, the incidents that grew least and were quiet longest
    are forgotten by matching (their state stays). Thousands of unrelated alerts at once would otherwise
    grow one value past what the server accepts, and every batch would pay to read it."""
    return IndexEncoder().bounded(index, limit)[0]


class IndexEncoder:
    """An index encoded as ``schemas.encode`` would, byte for byte, each entry's bytes kept from the
    write before: a batch changes the few entries its alerts joined or opened, and the index holds
    hundreds (up to INDEX_MAX_BYTES), which encoding whole, twice when over the bound, cost more than
    the batch's own matching. Entries are frozen: one the correlator did not replace is the same
    object, with the same bytes."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[IndexEntry, bytes]] = {}  # id(entry) -> the entry, its bytes

    def bounded(self, index: OpenIndex, limit: int = INDEX_MAX_BYTES) -> tuple[OpenIndex, bytes]:
        """``bounded(index, limit)``, and the value as written."""
        known, encoded, parts = self._known, {}, []
        for entry in index.entries:
            found = known.get(id(entry))
            part = found[1] if found is not None and found[0] is entry else schemas.encode(entry)
            encoded[id(entry)] = (entry, part)
            parts.append(part)
        self._known = encoded  # this write's entries (those bounded out too, until the next write)
        size = len(_EMPTY_INDEX) + sum(map(len, parts)) + max(len(parts) - 1, 0)  # and the commas
        if size > limit and index.entries:
            keep = max(1, int(len(index.entries) * limit / size * 0.9))
            ranked = sorted(
                index.entries, key=lambda entry: (entry.member_count > 1, entry.last_at), reverse=True
            )
            index = OpenIndex(entries=ranked[:keep])
            parts = [encoded[id(entry)][1] for entry in index.entries]
        return index, b'{"entries":[' + b",".join(parts) + b"]}"


_EMPTY_INDEX = schemas.encode(OpenIndex())
