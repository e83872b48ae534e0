"""The incidents' exemplars read, and their reviews and events published, beside their log (``_journal``).

An exemplar (an enriched alert an incident's analysis reads: its root's, up to 4 other alert
names') weighs kilobytes (the evidence) and is read once or twice in the incident's life. It is not
copied: the state names it by its sequence in the alerts' stream, which keeps it for
STREAM_MAX_AGE_HOURS (a gap after that), and a review reads it from there. A state written by the
version before names it by slot only: that version copied it to the key-value bucket INCIDENT_BUCKET, as

    exemplar.<id>.<slot>      EnrichedAlert kept for the incident's analysis (slot 0: the root)

and it is read from there. Reads and publishes go through ``_kv.Pipe``: a batch sends all its
requests at once and awaits their answers once.

Also here: what the log's records are made of (``MemberRecord``), the shard an alert is matched in,
and the bound on a shard's open index.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from loguru import logger
from nats.aio.client import ServerVersion
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

import schemas
from services.incidents._index import IndexEntry, OpenIndex
from services.incidents._kv import Pipe
from services.incidents._lifecycle import Exemplar
from services.runtime import NatsSettings, key_value_bucket

T = TypeVar("T")
# A KV key token: a cluster label with other characters is hashed instead.
_KEY_SAFE = re.compile(r"[-_=A-Za-z0-9]{1,64}")
# The most one cluster's open index may weigh, encoded: every batch of the cluster is matched against it.
INDEX_MAX_BYTES = 256 * 1024
# Longer than any incident lives (reopen window) and any alert fires unnoticed; every write renews it.
BUCKET_TTL_SECONDS = 7 * 86400


class MemberRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, gc=False):
    """An alert episode's membership, written with the batch that counted it in its incident. Not
    tracked by the garbage collector (it holds no container that could hold it back): a view holds
    one per alert of every open incident."""

    incident: str  # "": resolved before it was ever placed, never to be placed (``at``: when)
    role: schemas.MemberRole
    signals: tuple[str, ...] = ()
    shard: str = "_"
    resolved: bool = False
    at: datetime | None = None


class Conflicted(Exception):
    """A log entry kept losing to other writers; the caller degrades or retries the batch."""


def shard_of(alert: schemas.Alert) -> str:
    """The index an alert is matched in: its cluster's (alerts of different clusters never group)."""
    cluster = alert.labels.get("cluster", "")
    if not cluster:
        return "_"
    if _KEY_SAFE.fullmatch(cluster):
        return cluster
    return "h" + hashlib.sha256(cluster.encode()).hexdigest()[:16]


class IncidentStore:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        # nats-py's KeyValue keeps its connection and bucket name private; the pipe needs both.
        self.pipe = Pipe(kv._js._nc, kv._name)

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, settings: NatsSettings) -> IncidentStore:
        description = "Incidents: the exemplars their analyses read (aiops analyst)"
        store = cls(await key_value_bucket(js, settings, bucket, description, BUCKET_TTL_SECONDS))
        store.pipe.direct = await allow_direct(js, f"KV_{bucket}")
        store.pipe.batched = store.pipe.direct and batched_reads(js._nc.connected_server_version)
        return store

    async def write_all(self, messages: Sequence[tuple[str, bytes, str]]) -> None:
        """Stream messages (subject, payload, Nats-Msg-Id) published side by side, their acks awaited."""
        await self.settle(await self.send_all(messages))

    async def send_all(self, messages: Sequence[tuple[str, bytes, str]]) -> list[asyncio.Future[Any]]:
        """``write_all`` sent, its acks to ``settle`` (or ``publish_all``) later; each sent again while
        unanswered (the stream keeps one of each ``Nats-Msg-Id``)."""
        return [
            await self.pipe.send(subject, payload, {schemas.MSG_ID_HEADER: msg_id}, resend=True)
            for subject, payload, msg_id in messages
        ]

    async def settle(self, futures: Sequence[asyncio.Future[Any]]) -> None:
        """Every write sent acknowledged; KvError when one was refused, TimeoutError when unanswered."""
        await self.pipe.settle(futures)

    async def publish_all(self, messages: Sequence[tuple[str, bytes, str]]) -> list[bool]:
        """Stream messages (subject, payload, Nats-Msg-Id) published side by side, their acks awaited
        together; for each, whether the stream had it already (a duplicate)."""
        return await self.pipe.published(await self.send_all(messages))

    # ---- exemplars ------------------------------------------------------------------------------
    async def exemplars_of(
        self, incidents: Sequence[tuple[str, Sequence[Exemplar]]]
    ) -> list[list[tuple[schemas.EnrichedAlert, int]]]:
        """Each incident's exemplars (its id, its state's exemplars), each with its sequence in the
        alerts' stream (0: read from the bucket), read side by side."""
        sequences = [e.sequence for _, listed in incidents for e in listed if e.sequence]
        keys = [
            f"exemplar.{incident_id}.{slot}"
            for incident_id, listed in incidents
            for slot, e in enumerate(listed)
            if not e.sequence
        ]
        streamed, kept = await asyncio.gather(
            self.pipe.get_sequences(schemas.STREAM, sequences), self.pipe.get_many(keys)
        )
        from_stream, from_bucket = iter(streamed), (value for value, _ in kept)
        found = []
        for _, listed in incidents:
            messages = []
            # One gone (past the stream's retention, or never copied by a crashed replica of the
            # version before) leaves a gap only: the analysis reads the members' labels still. So does
            # another alert's message at that sequence (the stream deleted and made again).
            for e in listed:
                value = next(from_stream) if e.sequence else next(from_bucket)
                message = _decoded(value, schemas.EnrichedAlert)
                if message is not None and schemas.episode_key(message.alert) == e.episode:
                    messages.append((message, e.sequence))
            found.append(messages)
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
    (of those alike, the oldest) are forgotten by matching (their state stays). Thousands of unrelated
    alerts at once would otherwise grow one value past what the server accepts, and every batch would
    pay to read it."""
    return IndexEncoder().bounded(index, limit)


class IndexEncoder:
    """An index measured as ``schemas.encode`` would write it, byte for byte, each entry's bytes kept
    from the bound before: a batch changes the few entries its alerts joined or opened, and the index
    holds hundreds (up to INDEX_MAX_BYTES), which encoding whole, twice when over the bound, cost more
    than the batch's own matching. Entries are frozen: one the correlator did not replace is the same
    object, with the same bytes."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[IndexEntry, bytes]] = {}  # id(entry) -> the entry, its bytes

    def bounded(self, index: OpenIndex, limit: int = INDEX_MAX_BYTES) -> OpenIndex:
        """``bounded(index, limit)``: only the sizes are needed, so the index's bytes are never joined."""
        known, encoded, size = self._known, {}, 0
        for entry in index.entries:
            found = known.get(id(entry))
            part = found[1] if found is not None and found[0] is entry else schemas.encode(entry)
            encoded[id(entry)] = (entry, part)
            size += len(part)
        self._known = encoded  # this bound's entries (those bounded out too, until the next one)
        size += len(_EMPTY_INDEX) + max(len(index.entries) - 1, 0)  # and the commas
        if size <= limit or not index.entries:
            return index
        # Newest first where the rest is equal: one rule evaluation gives a zone's nodes and their pods
        # one startsAt, and the incident a batch just opened is the one its storm's next batch joins.
        ranked = sorted(
            reversed(index.entries), key=lambda entry: (entry.member_count > 1, entry.last_at), reverse=True
        )
        # Kept to a tenth under the bound, so the next batches' growth does not trim it again at once;
        # by the entries' own sizes, so a few large ones kept first cannot leave it over the bound.
        room, keep = int(limit * 0.9) - len(_EMPTY_INDEX), 0
        for entry in ranked:
            room -= len(encoded[id(entry)][1]) + (1 if keep else 0)
            if room < 0 and keep:
                break
            keep += 1
        return OpenIndex(entries=ranked[:keep])


_EMPTY_INDEX = schemas.encode(OpenIndex())
