"""Incident state as a log per shard in a JetStream stream, folded into views in every replica.

    stream <bucket>-log, subject <bucket>.log.<shard>    one LogEntry per batch that changed the shard

A batch is placed against the replica's view of its shard, and everything it changed (memberships,
states, index entries) is one message, published only if the shard's subject still ends where the
view does (``Nats-Expected-Last-Subject-Sequence``). Another replica that wrote first makes the
publish fail; the replica waits until its view has that entry (every replica reads the whole log
through an ordered consumer) and places the batch again. So replicas share one grouping, no write
is ever half done (a kill -9 loses a whole batch's changes, never part of them: its alerts come
back and are placed again), and what a batch costs the store is one message, not one per alert.

A replica that loses a race asks for the next turn of the shard (``<bucket>.turn.<shard>``, a core NATS
message: a hint, not state), and the replica it lost to waits for the asker's entry, TURN_SECONDS at
most, before it writes that shard again; an asker that ends up writing nothing gives its turn back.
Without it the winner, whose view is current the moment its own append is acknowledged, places its
next batch while the loser is still reading the winner's entry: under a flood one replica won every
race and another lost ATTEMPTS in a row.

A replica reads the log's headers only. Its own entries it applies as they are acknowledged (or as
their headers come, when first: they name the replica and the entry); only another replica's entry
is read whole, by its sequence. A view is rebuilt on start from the log (the stream keeps
FORGET_AFTER of it); until it has read as far as the log went when it started, the replica's batches
go on degraded and its reviews come back later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import msgspec
import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

import schemas
from services.incidents._kv import Conflict, KvError, Pipe
from services.incidents._lifecycle import IncidentState
from services.incidents._store import Conflicted
from services.incidents._views import FORGET_AFTER, LogEntry, Reads, ShardView, bounded_on, touches
from services.runtime import NatsSettings

T = TypeVar("T")
# Below the server's max payload (1 MiB by default); a server configured with a smaller max_payload
# lowers it (``entry_limit``), so entries split rather than fail. An entry's headers (the expected
# sequence, the writer's token) take about 100 bytes of the room.
ENTRY_MAX_BYTES = 960 * 1024
ENTRY_HEADERS_ROOM = 1024
# Placing a batch again after another replica wrote first; many replicas on one shard under a flood
# lose a few races in a row, never hundreds.
ATTEMPTS = 50
_LAST = re.compile(r"(\d+)\s*$")
# Names the replica and the entry: an entry whose headers come before its acknowledgement is applied
# from what the replica sent, not read back.
WRITER_HEADER = "Aiops-Log-Entry"
# How long an entry whose acknowledgement did not come in its time waits more for the log to say
# whether it was written (the log normally says first: ``_outcome``).
FATE_SECONDS = 5.0
# How often a starting replica looks whether the entries it waits for aged out meanwhile.
READY_CHECK_SECONDS = 5.0
# How long the replica that won a shard's race waits for the entry of one that asked for the next turn:
# a loser reads the winner's entry and places its batch again within milliseconds, or tens of them on
# a busy core; an asker that died meanwhile costs the winner this once.
TURN_SECONDS = 0.5
# What a turn message says in place of a sequence when the asker will not write after all.
GIVEN_BACK = "-"
# This replica's last entries of a shard, to know an ask is for it: a loser asks at once, within these.
MINE_KEPT = 16


def entry_limit(max_payload: int) -> int:
    """The largest entry written to a server that takes ``max_payload`` bytes per message."""
    return min(ENTRY_MAX_BYTES, max_payload - ENTRY_HEADERS_ROOM)


class EntryTooLarge(Exception):
    """A batch's changes do not fit one message: place it in parts."""


class Journal:
    def __init__(self, pipe: Pipe, stream: str, prefix: str, reopen: timedelta, turns: str) -> None:
        self.pipe = pipe
        self.stream = stream
        self.prefix = prefix  # subjects are <prefix>.<shard>
        self.turns = turns  # a turn is asked for on <turns>.<shard>
        self.views: dict[str, ShardView] = {}
        self.shard_of_incident: dict[str, str] = {}
        self.applied_seq = 0  # the last stream sequence read from the log
        # Counted for the analyst's /metrics (``aiops_incident_log_*``): whether replicas race.
        self.written = 0  # entries this replica appended
        self.lost = 0  # entries another replica's entry was written before
        self.rebased = 0  # of those, the ones that stood on the newer view (not computed again)
        self.yielded = 0  # appends held back for a replica that asked for a turn
        self.read_whole = 0  # entries read from the log: other replicas', or from before this one started
        self._reopen = reopen
        self._locks: dict[str, asyncio.Lock] = {}
        self._moved = asyncio.Event()  # set whenever an entry is read: waiters look again
        self.ready = asyncio.Event()  # the log read as far as it went when the journal opened
        self._watching: asyncio.Future[None] | None = None
        self._start = 0
        self._opened_at = 0.0
        self._writer = uuid.uuid4().hex[:12]
        self._tokens = itertools.count(1)
        self._in_flight: dict[str, LogEntry] = {}  # this replica's entries sent, not acknowledged yet
        self._landed: dict[str, int] = {}  # of those, the ones the log brought back: their sequence
        self._sub: JetStreamContext.PushSubscription | None = None
        self._turn_sub: Subscription | None = None
        # Per shard: this replica's last entries (an ask is for the replica it lost to), the replicas
        # that asked this one for a turn (writer -> the sequence they lost to, and until when they are
        # waited for), and the newest entry each other replica wrote.
        self._mine: dict[str, collections.deque[int]] = {}
        self._asks: dict[str, dict[str, tuple[int, float]]] = {}
        self._newest_of: dict[tuple[str, str], int] = {}

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        bucket: str,
        settings: NatsSettings,
        reopen: timedelta,
    ) -> Journal:
        """The journal, reading the log from its start; ``ready`` once it has read as far as the
        log went when it opened (``until_ready``). It does not wait for that: a log of a week of
        floods takes seconds to read, and the analyst serves meanwhile (its alerts degraded)."""
        stream, prefix = f"{bucket}-log", f"{bucket}.log"
        await _ensure_stream(js, stream, prefix, settings)
        journal = cls(Pipe(js._nc, bucket), stream, prefix, reopen, f"{bucket}.turn")
        state = (await js.stream_info(stream)).state
        # A log whose entries all aged out delivers nothing: there is nothing to wait for.
        journal._start = state.last_seq if state.messages else 0
        journal._opened_at = time.monotonic()
        if journal._start == 0:
            journal.ready.set()
        journal._sub = await js.subscribe(
            f"{prefix}.>",
            cb=journal._read,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            headers_only=True,
        )
        journal._turn_sub = await js._nc.subscribe(f"{journal.turns}.*", cb=journal._asked)
        if not journal.ready.is_set():
            journal._watching = asyncio.ensure_future(journal._watch_start(js))
        return journal

    async def _watch_start(self, js: JetStreamContext) -> None:
        """``ready`` also when the entries up to the start aged out before they were read (the log
        then never brings the last of them)."""
        while not self.ready.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ready.wait(), READY_CHECK_SECONDS)
            if self.ready.is_set():
                return
            with contextlib.suppress(Exception):  # asked again at the next check
                state = (await js.stream_info(self.stream)).state
                if not state.messages or state.first_seq > self._start:
                    self.ready.set()

    async def until_ready(self) -> None:
        await self.ready.wait()

    def view(self, shard: str) -> ShardView:
        view = self.views.get(shard)
        if view is None:
            view = self.views[shard] = ShardView(shard, self._reopen)
        return view

    def state(self, incident_id: str) -> IncidentState | None:
        shard = self.shard_of_incident.get(incident_id)
        return None if shard is None else self.views[shard].states.get(incident_id)

    def generation(self, incident_id: str) -> int | None:
        """The incident's generation as the view has it (None: not there), without decoding its state."""
        shard = self.shard_of_incident.get(incident_id)
        return None if shard is None else self.views[shard].states.generations.get(incident_id)

    # ---- reading the log ------------------------------------------------------------------------
    async def _read(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        shard = msg.subject[len(self.prefix) + 1 :]
        view = self.view(shard)
        token = (msg.headers or {}).get(WRITER_HEADER, "")  # <writer>:<its entry's number>
        if seq > view.seq:  # this replica's own entries are applied as they are acknowledged
            own = self._in_flight.get(token)
            if own is not None:
                self._landed[token] = seq
            try:
                entry = own if own is not None else await self._entry(msg.subject, seq)
                if entry is not None:
                    self._apply(view, entry, seq)
                    if own is None:
                        self.read_whole += 1
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # the entry or one of its states
                logger.error("incident log {}: entry {} unreadable, skipped ({})", msg.subject, seq, exc)
                entry = None
            if entry is None:
                view.seq = seq  # gone, or unreadable: said, and skipped
        writer = token.partition(":")[0]
        if writer and writer != self._writer:
            self._newest_of[(shard, writer)] = max(seq, self._newest_of.get((shard, writer), 0))
        self.applied_seq = max(self.applied_seq, seq)
        self._moved.set()
        if not self.ready.is_set() and self.applied_seq >= self._start:
            self.ready.set()
            took = time.monotonic() - self._opened_at
            logger.info("incident log read: {} entries in {:.1f}s", self._start, took)

    async def _entry(self, subject: str, seq: int) -> LogEntry | None:
        """Another replica's entry, read whole by its sequence: read again until it is (a view that
        skipped an entry would place alerts on a shard it no longer knows), unless it is gone."""
        for attempt in itertools.count(1):
            try:
                data = await self.pipe.get_by_sequence(self.stream, seq)
                break
            except (KvError, TimeoutError, nats.errors.Error) as exc:
                if attempt % 10 == 1:
                    # Every cluster's log waits for this entry: past a few tries, an error to act on.
                    log = logger.warning if attempt < 30 else logger.error
                    log("incident log {}: entry {} not read ({}); reading again", subject, seq, exc)
                await asyncio.sleep(min(0.05 * attempt, 2.0))
        if data is None:
            logger.error("incident log {}: entry {} is gone before it was read; skipped", subject, seq)
            return None
        return schemas.decode(data, LogEntry)

    def _apply(self, view: ShardView, entry: LogEntry, seq: int) -> None:
        written, forgotten = view.apply(entry, seq)
        for incident in written:
            self.shard_of_incident[incident] = view.shard
        for incident in forgotten:  # forgotten by the view: by this map too
            self.shard_of_incident.pop(incident, None)

    async def until_shard(self, shard: str, seq: int) -> None:
        """Once the shard's view has applied its entry ``seq``."""
        view = self.view(shard)
        while view.seq < seq:
            await self.moved()

    async def moved(self) -> None:
        """Once the next entry is read."""
        self._moved.clear()
        await self._moved.wait()

    # ---- writing the log ------------------------------------------------------------------------
    async def commit(
        self,
        shard: str,
        compute: Callable[[ShardView], tuple[LogEntry | None, T]],
        reads: Callable[[T], Reads | None] = lambda _: None,
    ) -> T:
        """``compute`` run on the shard's view and its entry appended, bounded on the view it is
        written on top of (``bounded_on``); None for an entry: nothing to write. When another replica
        appended first, the entry stands on the newer view if what won touched nothing the computation
        ``reads`` (and is bounded again there); otherwise ``compute`` runs again on the newer view."""
        lock = self._locks.setdefault(shard, asyncio.Lock())
        async with lock:  # this replica's own writers of a shard never race each other
            await self._their_turn(shard)
            view = self.view(shard)
            try:
                return await self._appended(shard, view, compute, reads)
            finally:
                view.discard_made()  # placements that were never written: their objects go

    async def _appended(
        self,
        shard: str,
        view: ShardView,
        compute: Callable[[ShardView], tuple[LogEntry | None, T]],
        reads: Callable[[T], Reads | None],
    ) -> T:
        entry: LogEntry | None = None
        asked = False  # a turn asked for and not taken: given back if this call ends writing nothing
        try:
            for _ in range(ATTEMPTS):
                if entry is None:
                    before, applied = view.index, view.applied
                    entry, result = compute(view)
                    if entry is None:
                        return result
                    read = reads(result)
                written_entry = bounded_on(entry, view)
                payload = schemas.encode(written_entry)
                if len(payload) > (limit := entry_limit(self.pipe.nc.max_payload)):
                    raise EntryTooLarge(f"{len(payload)} bytes, over {limit}")
                seen = view.seq
                token = f"{self._writer}:{next(self._tokens)}"
                headers = {"Nats-Expected-Last-Subject-Sequence": str(seen), WRITER_HEADER: token}
                self._in_flight[token] = written_entry
                try:
                    sent = await self.pipe.send(f"{self.prefix}.{shard}", payload, headers)
                    written = await self._outcome(sent, view, token, seen)
                finally:
                    del self._in_flight[token]
                    self._landed.pop(token, None)
                if not isinstance(written, Conflict):
                    # The entry directly follows the view's last: nothing else was written between.
                    self._apply(view, written_entry, written)
                    self.written += 1
                    self._mine.setdefault(shard, collections.deque(maxlen=MINE_KEPT)).append(written)
                    asked = False  # taken: the others see the entry
                    return result
                self.lost += 1
                found = _LAST.search(str(written))
                lost_to = int(found.group(1)) if found else seen + 1
                asked = True
                await self._turn_message(shard, str(lost_to))
                await self.until_shard(shard, lost_to)
                newer = view.since(applied) if read is not None else None
                if (
                    read is not None
                    and newer is not None
                    and not any(touches(e, read, before) for e in newer)
                ):
                    applied = view.applied  # the entry stands, to be bounded on the newer view
                    self.rebased += 1
                else:
                    entry = None  # computed again on the newer view
            raise Conflicted(f"{self.prefix}.{shard}: {ATTEMPTS} conflicting writes")
        finally:
            if asked:  # nothing written after all (nothing left to write, or it failed): none waits
                await self._turn_message(shard, GIVEN_BACK)

    async def _turn_message(self, shard: str, lost_to: str) -> None:
        """Tell the other replicas this one lost to entry ``lost_to`` and writes the shard next, or
        (GIVEN_BACK) that it will not."""
        with contextlib.suppress(Exception):  # a hint: without it, only the old unfairness
            await self.pipe.nc.publish(f"{self.turns}.{shard}", f"{self._writer} {lost_to}".encode())

    async def _asked(self, msg: Msg) -> None:
        """Another replica asks for the shard's next turn, having lost to an entry of this one's; or
        gives its turn back."""
        writer, _, lost_to = msg.data.decode(errors="replace").partition(" ")
        shard = msg.subject[len(self.turns) + 1 :]
        if writer == self._writer or not shard:
            return
        if lost_to == GIVEN_BACK:
            self._asks.get(shard, {}).pop(writer, None)
            self._moved.set()  # a replica holding its turn for it looks again
            return
        to_me = lost_to.isascii() and lost_to.isdigit() and int(lost_to) in self._mine.get(shard, ())
        # and not written since it asked (the log may bring its entry before its ask)
        if to_me and self._newest_of.get((shard, writer), 0) <= int(lost_to):
            self._asks.setdefault(shard, {})[writer] = (int(lost_to), time.monotonic() + TURN_SECONDS)

    async def _their_turn(self, shard: str) -> None:
        """Before this replica writes a shard again: the entries of the replicas that lost a race to
        it and asked for the next turn, each waited for TURN_SECONDS at most."""
        asks = self._asks.get(shard)
        if not asks:
            return
        held = False
        while True:
            now = time.monotonic()
            for writer, (lost_to, until) in list(asks.items()):
                if until <= now or self._newest_of.get((shard, writer), 0) > lost_to:
                    del asks[writer]
            if not asks:
                break
            held = True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(until for _, until in asks.values()) - now):
                    await self.moved()
        self.yielded += held

    async def _outcome(
        self, sent: asyncio.Future[Msg], view: ShardView, token: str, seen: int
    ) -> int | Conflict:
        """The append's sequence, or the Conflict that refused it: from the server's answer or from
        the log, whichever says first. The log says within milliseconds, so an answer lost on the
        way (a network blip, a failover) costs the batch nothing. With neither, the append fails
        FATE_SECONDS after the answer's own timeout; a batch waiting on it has gone on degraded at
        the store's timeout by then, and a review's comes back."""
        answer = asyncio.ensure_future(self.pipe.settle([sent]))
        told = asyncio.ensure_future(self._fate(view, token, seen))
        try:
            await asyncio.wait((answer, told), return_when=asyncio.FIRST_COMPLETED)
            if told.done():
                return told.result()
            try:
                (written,) = answer.result()
                return written
            except TimeoutError:
                async with asyncio.timeout(FATE_SECONDS):
                    return await told
        finally:
            for waiting in (answer, told):
                if waiting.done():
                    if not waiting.cancelled():
                        waiting.exception()  # retrieved: the other one said first, or it was raised
                else:
                    waiting.cancel()

    async def _fate(self, view: ShardView, token: str, seen: int) -> int | Conflict:
        """What the log says of an entry: written if it brings the entry's headers back (its
        sequence), not written if it brings another entry after ``seen`` first (the server refused
        ours, expecting ``seen``)."""
        while token not in self._landed and view.seq == seen:
            await self.moved()
        landed = self._landed.get(token)
        # Ends with the last sequence the view has, as the server's refusal ends with the subject's.
        return landed if landed is not None else Conflict(f"another entry came after {seen}: {view.seq}")

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
        for sub in (self._sub, self._turn_sub):
            if sub is not None:
                with contextlib.suppress(Exception):  # closing: the connection may be gone already
                    await sub.unsubscribe()
        await self.pipe.close()


async def _ensure_stream(js: JetStreamContext, stream: str, prefix: str, settings: NatsSettings) -> None:
    config = StreamConfig(
        name=stream,
        description="Incidents: each shard's log of memberships, states and index changes (aiops analyst)",
        subjects=[f"{prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=FORGET_AFTER.total_seconds(),
        num_replicas=settings.stream_replicas,
        allow_direct=True,
    )
    for attempt in range(20):
        try:
            await js.stream_info(stream)
            return
        except NotFoundError:
            pass
        try:
            await js.add_stream(config)
            return
        except Exception:
            # Another replica created it first, or the server is still starting: look again shortly.
            if attempt == 19:
                raise
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
