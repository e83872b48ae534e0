"""Correlation: each firing alert of a batch joins the open incident it fits best, or opens one.

Pure: the same index, batch and ``now`` give the same index and assignments (ids included), so a
replica that loses a compare-and-set race recomputes and lands on the same answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

import schemas
from services.incidents._footprint import Footprint, footprint
from services.incidents._frozen import Frozen
from services.incidents._index import (
    MAX_CAUSES,
    MAX_CAUSES_PER_KIND,
    MAX_ENTITIES,
    MAX_GROUP_KEYS,
    MAX_PER_KIND,
    MAX_ROOT_ENTITIES,
    MAX_SUBJECT,
    IndexEntry,
    OpenIndex,
)
from services.incidents._names import Names, merged
from services.incidents._open import GROUP_KEY, OpenEntries
from services.incidents._score import (
    SUSPECT_KINDS,
    THRESHOLD,
    Score,
    View,
    cluster_allows,
    in_time,
    may_reach,
    score,
)
from services.incidents._settings import IncidentSettings
from services.incidents._topology import Topology

# The index types are imported from here too: one module holds what callers of ``assign`` need.
__all__ = ["Assignment", "Correlator", "IndexEntry", "OpenIndex", "incident_id"]


class Assignment(Frozen, frozen=True):
    """Where one alert episode went, and why."""

    episode: str  # schemas.episode_key(alert)
    incident_id: str
    role: schemas.MemberRole
    signals: tuple[str, ...]  # e.g. ("node", "time"), ("override",); () when it opened the incident
    opened: bool  # this alert opened the incident (its root, until a better one arrives)
    reopened: bool  # it reopened a recently resolved incident
    new_root: bool  # it joined and became the root: its cause explains members already there
    # the new root is about what the old one was about (a node's memory pressure after its memory
    # warning): the cause said more precisely, not another one
    refines: bool = False


def incident_id(first_episode: str) -> str:
    return "inc-" + hashlib.sha256(first_episode.encode()).hexdigest()[:12]


class Correlator:
    def __init__(self, settings: IncidentSettings, topology: Topology | None = None) -> None:
        self._window = timedelta(seconds=settings.incident_window_seconds)
        self._reopen = timedelta(seconds=settings.incident_reopen_seconds)
        self._key_label = settings.incident_key_label
        self._topology = topology

    def footprint(self, message: schemas.EnrichedAlert) -> Footprint:
        return footprint(message, self._topology, self._key_label)

    def when(self, alert: schemas.Alert, now: datetime) -> datetime:
        """The alert's start, or ``now`` when that start is in the future or more than a window ago:
        a replayed or mis-clocked alert never joins or opens incidents of another time."""
        starts = alert.starts_at
        return now if starts > now or starts < now - self._window else starts

    def assign(
        self, index: OpenIndex, messages: Sequence[schemas.EnrichedAlert], now: datetime
    ) -> tuple[OpenIndex, list[Assignment]]:
        """Pure: same inputs, same outputs. Firing alerts only (resolved ones are skipped: the caller
        resolves members by membership). The returned index drops incidents resolved longer than
        INCIDENT_REOPEN_SECONDS and open ones idle longer than that (or twice the window, if longer)."""
        index, assignments, _ = self.assign_reading(index, messages, now)
        return index, assignments

    def assign_reading(
        self, index: OpenIndex, messages: Sequence[schemas.EnrichedAlert], now: datetime
    ) -> tuple[OpenIndex, list[Assignment], frozenset[str]]:
        """``assign``, and the names the batch looked incidents up by (``index_names``): an entry
        holding none of them was never looked at, so adding, changing or dropping it leaves the
        assignments as they are."""
        firing = [
            (schemas.episode_key(message.alert), message)
            for message in messages
            if message.alert.status == "firing"
        ]
        prints = {episode: self.footprint(message) for episode, message in firing}
        wanted = {_alert_name(episode) for episode in prints}
        for print_ in prints.values():
            wanted.update(print_.entities, print_.causes)
            if print_.group_key_specific:
                wanted.add(GROUP_KEY + print_.group_key)
        # A cluster is shared by all: no lead. Its one name is the footprint's cluster (``footprint``).
        wanted.difference_update({f"cluster={p.cluster}" for p in prints.values() if p.cluster})
        read = frozenset(wanted | {f"override:{p.override}" for p in prints.values() if p.override})
        open_ = OpenEntries(self._alive(index.entries, now), wanted)
        before = len(open_.entries)  # incidents the batch found; later positions it opened
        # Earliest first, so that a storm's first alert opens its incident whatever the batch order.
        order = sorted(firing, key=lambda pair: (self.when(pair[1].alert, now), pair[0]))
        done: dict[str, Assignment] = {}
        for episode, message in order:
            if episode not in done:
                done[episode] = self._place(open_, message, prints[episode], episode, now)
        # The batch arrived together: an alert that opened an incident nobody joined is placed again
        # against what the rest of its batch made, as it would be had it come a moment later (the etcd
        # members' alert, then the member failing to reach the downed zone that ties them).
        # Only an incident open before the batch is taken (``_again``), and one the batch has not grown
        # scores as it did when the alert found none to join: without such growth there is nothing to
        # place again (a flood of unrelated alerts, each opening its own), and ``_again`` grows none.
        if open_.grew_below(before):
            for episode, message in order:
                if done[episode].opened and not prints[episode].override:
                    again = self._again(open_, message, prints[episode], episode, now, before)
                    done[episode] = again or done[episode]
        return OpenIndex(entries=open_.kept()), _first_only([done[episode] for episode, _ in firing]), read

    def _alive(self, entries: list[IndexEntry], now: datetime) -> list[IndexEntry]:
        """The entries still matched: resolved ones within INCIDENT_REOPEN_SECONDS of their
        resolution; open ones while they are open (the lifecycle marks them resolved), unless quiet
        longer than that (or twice the window, if longer): the bound only drops entries whose
        resolution never came. Every entry, every batch: the limits are worked out once."""
        resolved_since = now - self._reopen
        active_since = now - max(2 * self._window, self._reopen)
        return [
            entry
            for entry in entries
            if (
                entry.resolved_at is not None and entry.resolved_at >= resolved_since
                if entry.status == "resolved"
                else entry.last_at >= active_since
            )
        ]

    def _place(
        self,
        open_: OpenEntries,
        message: schemas.EnrichedAlert,
        print_: Footprint,
        episode: str,
        now: datetime,
    ) -> Assignment:
        own_id = incident_id(episode)
        if own_id in open_.by_id:  # this episode opened it already: a re-send
            root = open_.entries[open_.by_id[own_id]].root_alert == episode
            return Assignment(episode, own_id, "root" if root else "related", (), False, False, False)
        at = self.when(message.alert, now)
        fingerprint = _alert_name(episode)
        found = (
            self._override_match(open_, print_)
            if print_.override
            else self._same_alert(open_, fingerprint) or self._best(open_, print_, at)
        )
        if found is None:
            open_.add(_opened(own_id, episode, print_, at, fingerprint))
            return Assignment(episode, own_id, "root", (), True, False, False)
        return self._join(open_, found, print_, episode, at, fingerprint)

    def _again(
        self,
        open_: OpenEntries,
        message: schemas.EnrichedAlert,
        print_: Footprint,
        episode: str,
        now: datetime,
        before: int,
    ) -> Assignment | None:
        """The alert's own new incident given up for one the batch made it fit, if any: an incident
        that was open before the batch (the opener of one opened in it is applied after this earlier
        alert: the analyst applies a batch's joins by start time), and never as its new root (the
        root the batch's own placement chose stays the one the index and the state agree on)."""
        own = open_.by_id[incident_id(episode)]
        if open_.entries[own].member_count != 1:
            return None
        at = self.when(message.alert, now)
        found = self._best(open_, print_, at, excluded=own)
        if found is None or found[0] >= before or _role(print_, open_.view(found[0]), found[1], episode)[1]:
            return None
        open_.drop(own)
        return self._join(open_, found, print_, episode, at, _alert_name(episode))

    def _join(
        self,
        open_: OpenEntries,
        found: tuple[int, Score],
        print_: Footprint,
        episode: str,
        at: datetime,
        fingerprint: str,
    ) -> Assignment:
        """``fingerprint``: the alert's name among an incident's entities (``_alert_name``)."""
        position, fit = found
        entry = open_.entries[position]
        view = open_.view(position)
        role, new_root = _role(print_, view, fit, episode)
        # A subject said to be down is news however it was named before (a node's memory warning, then
        # NotReady); a bare service name is no subject (two namespaces' "api").
        refines = (
            new_root
            and not print_.kind.unavailable
            and any(name in print_.subject for name in entry.root_subject if not name.startswith("service="))
        )
        new_root_alert = episode if new_root else ""
        grown = _joined(
            view, print_, at, new_root_alert, role == "caused", fingerprint, _suspects(print_, view)
        )
        open_.replace(position, grown)
        signals = fit.signals if print_.override or fit.signals == ("same_alert",) else (*fit.signals, "time")
        reopened = entry.status == "resolved"
        return Assignment(episode, entry.id, role, signals, False, reopened, new_root, refines)

    def _override_match(self, open_: OpenEntries, print_: Footprint) -> tuple[int, Score] | None:
        matches = [
            (entry.last_at, entry.id, i)
            for i, entry in enumerate(open_.entries)
            if entry.override == print_.override
        ]
        if not matches:
            return None
        position = max(matches)[2]
        return position, Score(1.0, ("override",), False, bool(print_.causes & open_.view(position).entities))

    @staticmethod
    def _same_alert(open_: OpenEntries, fingerprint: str) -> tuple[int, Score] | None:
        """A new episode of an alert already in an incident (the same labels: it flaps) goes back to that
        incident while the incident is in the index (open, or resolved less than INCIDENT_REOPEN_SECONDS
        ago), whatever the window: one flapping alert is one story, not a new incident each time."""
        positions = open_.holding(fingerprint)
        if not positions:
            return None
        position = max(positions, key=lambda i: (open_.entries[i].last_at, open_.entries[i].id))
        return position, Score(1.0, ("same_alert",), False, False)

    def _best(
        self, open_: OpenEntries, print_: Footprint, at: datetime, excluded: int = -1
    ) -> tuple[int, Score] | None:
        # A cause that explains the alert (or that it explains) beats any sum of shared places: a pod
        # of one Deployment failing on the cache belongs to the cache outage, not to the node outage
        # that took its sibling down. And a cause named (this host, this node) beats one known by its
        # class (some etcd, some Redis): the etcd member failing to reach a downed node is that node's.
        # Then a root that explains it beats a member that does: a checkout replica failing on the
        # database belongs to the database's outage, not to the node's that another replica's database
        # errors joined by their workload (and whose causes name checkout).
        best: tuple[bool, bool, bool, float, datetime, str, int, Score] | None = None
        # A cluster's name is among them, and finds nothing: the batch never looks entries up by it.
        names = print_.entities | print_.causes
        # A group by alert name or namespace only (0.05) never reaches the threshold alone: incidents
        # sharing nothing else with the alert are not worth scoring (a webhook's fifty distinct alerts
        # would each be scored against every sibling before it).
        group_key = print_.group_key if print_.group_key_specific else ""
        for i in open_.sharing(names, group_key) if print_.placed else ():
            if i == excluded:
                continue
            view = open_.views[i]
            entry = view.entry
            if entry.override or not cluster_allows(print_, view) or not may_reach(print_, view):
                continue
            if entry.status == "resolved" and (
                entry.resolved_at is None or at < entry.opened_at - self._window
            ):
                continue
            fit = score(print_, view)
            if fit.value >= THRESHOLD and _another_cause(print_, view, fit):
                fit = score(print_, view, explaining=False)
            if fit.value >= THRESHOLD and _points_elsewhere(print_, view, fit):
                continue
            late = entry.status == "open" and not in_time(entry, at, self._window)
            if fit.value >= THRESHOLD and (not late or (fit.same_object and at > entry.last_at)):
                explained = fit.explained or fit.explains
                named = explained and fit.named_cause
                by_root = explained and not print_.entities.isdisjoint(entry.root_causes)
                candidate = (explained, named, by_root, fit.value, entry.last_at, entry.id, i, fit)
                if best is None or candidate[:6] > best[:6]:
                    best = candidate
        return None if best is None else (best[6], best[7])


def _role(print_: Footprint, view: View, fit: Score, episode: str) -> tuple[schemas.MemberRole, bool]:
    """The joining alert's role in the incident, and whether it becomes its new root."""
    entry = view.entry
    if episode == entry.root_alert or not print_.entities.isdisjoint(entry.root_causes):
        return ("root" if episode == entry.root_alert else "caused"), False
    new_root = _new_root(print_, view, fit)
    return ("root" if new_root else "related"), new_root


def _another_cause(print_: Footprint, view: View, fit: Score) -> bool:
    """Whether the alert is a second cause beside the incident's root: its causes explain members but
    not the root, the root says its subject is down and explains members of its own, and nothing
    there explains the alert (a root that only fails, such as a service's error rate, is a symptom a
    later cause may explain through its members: the node under a checkout pod becomes the root). A
    database down explaining the one dependant's error that joined a node's outage by its workload
    (a sibling pod of that Deployment was on the node) is another incident, not the node's new root,
    or every alert of the database's outage would follow it into the node's. What it explains then
    counts for nothing there; what it shares otherwise still counts."""
    entry = view.entry
    if fit.explained or not fit.explains or not (entry.root_explains and entry.root_down):
        return False
    root = entry.root_entities or (entry.entities if entry.member_count == 1 else [])
    return bool(root) and print_.causes.isdisjoint(root)


def _points_elsewhere(print_: Footprint, view: View, fit: Score) -> bool:
    """A failing alert that names what it fails on (a dependency) meets an incident only through its
    place (the same workload, service, namespace): nothing there explains it, and what it names is not
    there. A checkout replica's "queries to db-main fail" is not the node outage that took another
    checkout replica down; it waits for the database's own incident, or opens one. Its own pod's
    alerts are another matter (the same pod, not ready, then crash-looping on the database)."""
    if fit.explained or fit.explains or not print_.kind.failing or "pod" in fit.signals:
        return False  # the very same pod: its next alert, whatever it names, is one story
    return bool(print_.dependencies) and view.entities.isdisjoint(print_.dependencies)


def _new_root(print_: Footprint, view: View, fit: Score) -> bool:
    """Whether a joining alert takes the root's place: its causes explain members, by a cause the root
    does not name already, and nothing in the incident explains it back. Two alerts about one failing
    service (errors, then latency) explain each other: neither is the other's root, or every such
    alert of a storm would take the root in turn. An alert saying only what the root says (a
    StatefulSet short of replicas, after its database pod went down) leaves the root as it is."""
    if fit.explained or not fit.explains:
        return False
    return not (print_.causes & view.entities).issubset(view.entry.root_causes)


def _alert_name(episode: str) -> str:
    """The alert's name among an incident's entities: "alert=<its label fingerprint>", what every
    episode of one alert shares (schemas.episode_key)."""
    return "alert=" + episode.rsplit("@", 1)[0]


def _opened(id_: str, episode: str, print_: Footprint, at: datetime, fingerprint: str) -> View:
    """The new incident's entry, seen as the batch sees the entries it found (``View.of``)."""
    # An alert placed nowhere keeps no entities nor group key: nothing can join it but its override
    # and its own next episodes.
    entity_names = Names([], MAX_ENTITIES, MAX_PER_KIND)
    cause_names = Names([], MAX_CAUSES, MAX_CAUSES_PER_KIND)
    entry = IndexEntry(
        id=id_,
        opened_at=at,
        last_at=at,
        entities=entity_names.grown(print_.entities | {fingerprint} if print_.placed else {fingerprint}),
        causes=cause_names.grown(print_.causes) if print_.placed else [],
        group_keys=[print_.group_key] if print_.group_key and print_.placed else [],
        override=print_.override,
        root_alert=episode,
        root_causes=sorted(print_.causes)[:MAX_CAUSES],
        root_subject=_subject(print_),
        root_down=print_.kind.unavailable,
        member_count=1,
    )
    return View.of(entry, entity_names, cause_names)


def _suspects(print_: Footprint, view: View) -> frozenset[str]:
    """What two failing members turn out to share beyond their place, a release or an error line,
    becomes a suspected cause of the incident: a third service failing on that release (or printing
    that line) is explained by it (one change pushed everywhere)."""
    if not print_.kind.failing:
        return frozenset()
    return frozenset([name for name in print_.entities & view.entities if name.startswith(SUSPECT_KINDS)])


def _joined(
    view: View,
    print_: Footprint,
    at: datetime,
    new_root: str,
    caused: bool,
    fingerprint: str,
    suspects: frozenset[str],
) -> IndexEntry:
    entry = view.entry
    # the root's own names, kept before the first joiner's mix with them
    root_entities = entry.root_entities or (
        entry.entities[:MAX_ROOT_ENTITIES] if entry.member_count == 1 else []
    )
    keys = [print_.group_key] if print_.group_key and print_.placed else []
    return msgspec.structs.replace(
        entry,
        status="open",
        resolved_at=None,
        opened_at=min(entry.opened_at, at),
        last_at=max(entry.last_at, at),
        entities=view.entity_names.grown(print_.entities | {fingerprint}),
        causes=view.cause_names.grown(print_.causes | suspects if suspects else print_.causes),
        group_keys=merged(entry.group_keys, keys, MAX_GROUP_KEYS),
        root_alert=new_root or entry.root_alert,
        root_causes=sorted(print_.causes)[:MAX_CAUSES] if new_root else entry.root_causes,
        root_subject=_subject(print_) if new_root else entry.root_subject,
        # a new root explains members: that is what made it the root
        root_entities=sorted(print_.entities)[:MAX_ROOT_ENTITIES] if new_root else root_entities,
        root_explains=bool(new_root) or caused or entry.root_explains,
        root_down=print_.kind.unavailable if new_root else entry.root_down,
        member_count=entry.member_count + 1,
    )


def _subject(print_: Footprint) -> list[str]:
    return sorted(print_.subject)[:MAX_SUBJECT]


def _first_only(assignments: list[Assignment]) -> list[Assignment]:
    """A batch may carry one episode twice (a re-send): only its first copy opens or changes anything."""
    seen: set[str] = set()
    result = []
    for assignment in assignments:
        if assignment.episode in seen:
            assignment = msgspec.structs.replace(
                assignment, opened=False, reopened=False, new_root=False, refines=False
            )
        seen.add(assignment.episode)
        result.append(assignment)
    return result


def index_names(entry: IndexEntry) -> set[str]:
    """The names ``assign_reading`` finds ``entry`` by: its entities and causes, its group keys, and
    its override."""
    names = {*entry.entities, *entry.causes, *entry.root_causes}
    names.update(GROUP_KEY + key for key in entry.group_keys)
    if entry.override:
        names.add(f"override:{entry.override}")
    return names
