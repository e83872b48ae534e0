"""A shard's incidents as every replica holds them: the fold of the shard's log (``_journal``).

The log of a shard (its cluster's alerts) is a list of ``LogEntry``, one per batch that changed
something. An entry carries results, never inputs: the membership records it made, the states of the
incidents it touched, whole, and the index entries it changed. Applying it is dict updates, so a
replica folds another's batch for a fraction of what placing it cost, and replicas of different
versions agree on what happened.

Every replica applies the same entries in the same order (the subject's sequence) from the same
start, and ``sweep`` forgets by the entries' own clock: so every replica's view of a shard, and a
restarted replica's, is the same.

A view keeps each incident's state as the bytes its entry carried (``KeptStates``), decoded when a
batch or a review reads it: tens of thousands of open incidents held as objects are millions of
objects for the garbage collector to walk, every full collection, and a state is read once or twice.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, overload

import msgspec

import schemas
from services.incidents._correlate import index_names
from services.incidents._index import IndexEntry, OpenIndex
from services.incidents._lifecycle import IncidentState
from services.incidents._store import IndexEncoder, MemberRecord

T = TypeVar("T")

# How often (by the entries' clock, on the minute) a view forgets what nothing will ask for again.
SWEEP_EVERY = timedelta(seconds=60)
# How long a resolution whose firing alert was never placed is remembered: longer than the alert's
# own redelivery (an ack wait, a few deliveries), so that firing alert is not placed after it.
RESOLVED_UNPLACED_KEPT = timedelta(hours=1)
# A state or membership untouched this long is forgotten (the bucket's TTL before the log).
FORGET_AFTER = timedelta(days=7)
# Entries a view keeps after applying them, for a placement that lost a race to look at what won it.
RECENT = 64
# States a view keeps decoded: those of the incidents the last batches and reviews touched.
DECODED = 1024


class LogEntry(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """What one batch changed in one shard."""

    at: datetime  # the writer's clock when it placed the batch
    members: dict[str, MemberRecord] = {}  # episode -> its record, new or changed
    # each incident touched, as it is after the batch: an encoded IncidentState (``state_ids``)
    states: list[msgspec.Raw] = []
    changed: list[IndexEntry] = []  # index entries new or replaced, in index order
    dropped: list[str] = []  # ids of the index entries that left it


class _Life(msgspec.Struct, frozen=True):
    """What forgetting needs of a state, read from its bytes without decoding the rest."""

    id: str
    status: str = "open"
    resolved_at: datetime | None = None
    generation: int = 0


_life = msgspec.json.Decoder(_Life)


def _life_of(state: IncidentState) -> _Life:
    return _Life(state.id, state.status, state.resolved_at, state.generation)


def encoded_state(state: IncidentState) -> msgspec.Raw:
    return msgspec.Raw(schemas.encode(state))


class KeptStates(Mapping[str, IncidentState]):
    """Incidents' states kept as bytes, decoded on reading (the last DECODED kept decoded)."""

    def __init__(self) -> None:
        self.raw: dict[str, bytes] = {}
        self.resolved_at: dict[str, datetime] = {}  # of the incidents resolved, for ``sweep``
        # Each state's generation: whether a view has a change is asked without decoding the state.
        self.generations: dict[str, int] = {}
        self._decoded: OrderedDict[str, IncidentState] = OrderedDict()

    def put(self, raw: msgspec.Raw | bytes, life: _Life, decoded: IncidentState | None = None) -> None:
        """The state ``raw`` (``life``: read from it; ``decoded``: it, when the caller has it) kept."""
        self.raw[life.id] = bytes(raw)
        self.generations[life.id] = life.generation
        if life.status == "resolved" and life.resolved_at is not None:
            self.resolved_at[life.id] = life.resolved_at
        else:
            self.resolved_at.pop(life.id, None)
        if decoded is not None:
            self._remember(life.id, decoded)
        else:
            self._decoded.pop(life.id, None)

    def forget(self, incident_id: str) -> None:
        del self.raw[incident_id]
        del self.generations[incident_id]
        self.resolved_at.pop(incident_id, None)
        self._decoded.pop(incident_id, None)

    def _remember(self, incident_id: str, state: IncidentState) -> None:
        self._decoded[incident_id] = state
        self._decoded.move_to_end(incident_id)
        if len(self._decoded) > DECODED:
            self._decoded.popitem(last=False)

    def __getitem__(self, incident_id: str) -> IncidentState:
        state = self._decoded.get(incident_id)
        if state is None:
            state = schemas.decode(self.raw[incident_id], IncidentState)
        self._remember(incident_id, state)  # the most recently read stay decoded
        return state

    @overload
    def get(self, incident_id: str, /) -> IncidentState | None: ...
    @overload
    def get(self, incident_id: str, /, default: IncidentState | T) -> IncidentState | T: ...
    def get(self, incident_id: str, /, default: object = None) -> object:
        # Mapping's ``get`` raises and catches a KeyError for each incident not kept: every new one,
        # which each alert of a flood opens.
        return self[incident_id] if incident_id in self.raw else default

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self.raw

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class ShardView:
    """One shard as its log says: the open index, the memberships and the incidents' states."""

    def __init__(self, shard: str, reopen: timedelta) -> None:
        self.shard = shard
        self.seq = 0  # the stream sequence of the last entry applied (0: none)
        self.index = OpenIndex()
        self.members: dict[str, MemberRecord] = {}
        self.states = KeptStates()
        self._touched: dict[str, datetime] = {}  # incident -> the last entry that wrote it
        self._recent: deque[tuple[int, LogEntry]] = deque(maxlen=RECENT)
        self.applied = 0  # entries applied so far
        self._reopen = reopen
        self._swept: int | None = None  # the minute (of the entries' clock) the view last swept
        # The states of the entries this view made, as objects, by the id of the entry's list of them
        self._made: dict[int, tuple[list[msgspec.Raw], list[IncidentState]]] = {}
        # The index's entries' bytes, kept between batches: bounding it measures them every batch.
        self.encoder = IndexEncoder()

    def apply(self, entry: LogEntry, seq: int) -> tuple[list[str], set[str]]:
        """The entry applied, once: an entry at or before ``seq`` is applied already. The incidents
        whose state it wrote, and those the view forgot meanwhile (``sweep``)."""
        if seq <= self.seq:
            return [], set()
        # This view's own entry: its states as objects (the very list: an id alone could be reused),
        # whose lives need no reading back from their bytes.
        found = self._made.pop(id(entry.states), None)
        made: Sequence[IncidentState | None]
        if found is not None and found[0] is entry.states:
            made = found[1]
            lives = [_life_of(state) for state in found[1]]
        else:
            made = [None] * len(entry.states)
            lives = [_life.decode(raw) for raw in entry.states]  # unreadable: raises before any change
        self.members.update(entry.members)
        for raw, life, decoded in zip(entry.states, lives, made, strict=True):
            self.states.put(raw, life, decoded)
            self._touched[life.id] = entry.at
        written = [life.id for life in lives]
        if entry.changed or entry.dropped:
            self.index = applied(self.index, entry.changed, entry.dropped)
        self.seq = seq
        self._recent.append((seq, entry))
        self.applied += 1
        # On the minute of the entries' clock, not a minute after the first entry this view read:
        # a replica started later sweeps at the same entries as the others.
        minute = int(entry.at.timestamp() // SWEEP_EVERY.total_seconds())
        gone: set[str] = set()
        if self._swept is None or minute > self._swept:
            if self._swept is not None:
                gone = self.sweep(entry.at)
            self._swept = minute
        return written, gone

    def discard_made(self) -> None:
        """The objects of the entries this view made and never applied (lost races placed again,
        failed writes) let go."""
        self._made.clear()

    def since(self, applied: int) -> list[LogEntry] | None:
        """The entries applied after the view had applied ``applied`` entries (``self.applied``
        then), or None when it no longer keeps them all."""
        count = self.applied - applied
        if count > len(self._recent):
            return None
        return [entry for _, entry in list(self._recent)[len(self._recent) - count :]]

    def sweep(self, at: datetime) -> set[str]:
        """Incidents resolved longer than the reopen window, or untouched for FORGET_AFTER, forgotten
        with their members and their index entries (an entry left behind would let an alert join an
        incident whose state is gone): no alert can join them again, and their events are all out.
        Resolutions of alerts never placed are forgotten after RESOLVED_UNPLACED_KEPT."""
        unplaced = at - RESOLVED_UNPLACED_KEPT
        gone = {incident for incident, touched in self._touched.items() if touched < at - FORGET_AFTER}
        gone.update(i for i, resolved in self.states.resolved_at.items() if resolved < at - self._reopen)
        self.members = {
            e: r
            for e, r in self.members.items()
            if (r.incident and r.incident not in gone)
            or (not r.incident and r.at is not None and r.at >= unplaced)
        }
        for incident in gone:
            self.states.forget(incident)
            del self._touched[incident]
        if any(entry.id in gone for entry in self.index.entries):
            self.index = OpenIndex(entries=[entry for entry in self.index.entries if entry.id not in gone])
        return gone

    def entry(
        self,
        at: datetime,
        members: dict[str, MemberRecord],
        states: Iterable[IncidentState],
        index: OpenIndex | None,
    ) -> LogEntry:
        """The entry that takes this view to ``index`` (None: unchanged) with these records and states."""
        changed: list[IndexEntry] = []
        dropped: list[str] = []
        if index is not None and index is not self.index:
            changed, dropped = delta(self.index, index)
        objects = list(states)
        kept = [encoded_state(state) for state in objects]
        # Applied by this view once written, the entry's states need no decoding back.
        self._made[id(kept)] = (kept, objects)
        while len(self._made) > RECENT:
            del self._made[next(iter(self._made))]
        return LogEntry(at=at, members=members, states=kept, changed=changed, dropped=dropped)


def state_ids(entry: LogEntry) -> list[str]:
    """The incidents whose state ``entry`` writes."""
    return [_life.decode(raw).id for raw in entry.states]


def delta(before: OpenIndex, after: OpenIndex) -> tuple[list[IndexEntry], list[str]]:
    """The entries of ``after`` that ``before`` lacks as they are (by identity: the correlator never
    changes an entry, it replaces it), and the ids ``after`` no longer has."""
    kept = {id(entry) for entry in before.entries}
    changed = [entry for entry in after.entries if id(entry) not in kept]
    ids = {entry.id for entry in after.entries}
    dropped = [entry.id for entry in before.entries if entry.id not in ids]
    return changed, dropped


def applied(index: OpenIndex, changed: list[IndexEntry], dropped: list[str]) -> OpenIndex:
    """``index`` with the entries ``changed`` in place of theirs (new ones at the end, in order) and
    those ``dropped`` left out: the one order every replica and a replay arrive at."""
    replacing = {entry.id: entry for entry in changed}
    gone = set(dropped)
    entries = [replacing.pop(entry.id, entry) for entry in index.entries if entry.id not in gone]
    entries += [entry for entry in changed if entry.id in replacing]
    return OpenIndex(entries=entries)


@dataclass(frozen=True)
class Reads:
    """What a placement read of its view: the names it looked index entries up by, the incidents
    whose state or index entry it read or wrote, and the episodes whose record it read or wrote."""

    names: frozenset[str]
    incidents: frozenset[str]
    episodes: frozenset[str]


def touches(entry: LogEntry, reads: Reads, before: OpenIndex) -> bool:
    """Whether ``entry`` (written by another replica while a placement was made from the view
    ``before`` it) changed anything the placement read. When it did not, the placement is what it
    would have been on the newer view, and stands (``rebased``)."""
    if not reads.episodes.isdisjoint(entry.members):
        return True
    if any(incident in reads.incidents for incident in state_ids(entry)):
        return True
    for changed in entry.changed:
        if changed.id in reads.incidents or not reads.names.isdisjoint(index_names(changed)):
            return True
    if entry.dropped:
        gone = set(entry.dropped)
        if not gone.isdisjoint(reads.incidents):
            return True
        for dropped in before.entries:
            if dropped.id in gone and not reads.names.isdisjoint(index_names(dropped)):
                return True
    return False


def bounded_on(entry: LogEntry, view: ShardView) -> LogEntry:
    """``entry`` as written on top of ``view``: the index it leaves kept under INDEX_MAX_BYTES, the
    incidents that grew least and were quiet longest left out first (their state stays). Placing
    leaves the bound to this step, so an entry that lost a race and stands on a newer view is bounded
    as placing it there would have been: on that view's index and its own changes, once."""
    if not entry.changed and not entry.dropped:
        # The view's index is as an entry bounded it, on every replica alike: it stays within the bound.
        return entry
    merged = applied(view.index, entry.changed, entry.dropped)
    bounded = view.encoder.bounded(merged)
    if bounded is merged:
        return entry
    kept = {index_entry.id for index_entry in bounded.entries}
    out = [index_entry.id for index_entry in merged.entries if index_entry.id not in kept]
    changed = [index_entry for index_entry in entry.changed if index_entry.id in kept]
    return msgspec.structs.replace(entry, changed=changed, dropped=[*entry.dropped, *out])
