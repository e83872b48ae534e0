"""How well an alert fits an open incident: signals, their weights, and the threshold.

An alert joins the best-scoring incident at or above THRESHOLD; the score is the sum, over distinct
signals, of each signal's weight. Time proximity is a gate, not a weight: without it nothing else
counts (except the override label). Cause links and the entities that name one thing (pod, workload,
service, instance, dependency, volume) reach the threshold alone; the wide places (node, zone, namespace)
and a wide Alertmanager group only add to another signal, so alerts that merely share a node, a namespace
or a moment stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from services.incidents._footprint import Footprint
from services.incidents._frozen import Frozen
from services.incidents._index import (
    MAX_CAUSES,
    MAX_CAUSES_PER_KIND,
    MAX_ENTITIES,
    MAX_PER_KIND,
    IndexEntry,
)
from services.incidents._names import Names, kind_of

THRESHOLD = 0.6
# One incident's cause is what this alert runs on or depends on, or the reverse.
CAUSE_WEIGHT = 1.0
# A cause known by its technology only ("Redis is down", "fails on Redis"): it joins alone, but a cause
# named by its node, host or service wins over it (one of three etcd members down is on one node).
CLASS_CAUSE_WEIGHT = 0.75
# entity kind -> (signal, weight) when the alert and the incident share an entity of that kind
SHARED: dict[str, tuple[str, float]] = {
    "pod": ("pod", 1.0),
    "workload": ("workload", 0.8),
    "app": ("workload", 0.8),
    "service": ("service", 0.7),
    "host": ("instance", 0.7),
    "dependency": ("dependency", 0.7),
    "volume": ("volume", 0.7),
    "topic": ("topic", 0.6),
    # two alerts each saying something on one node (zone) is unavailable: one outage
    "unavailable-node": ("node", 0.6),
    "unavailable-zone": ("zone", 0.6),
    # two probes of one site failing at once: its load balancer, certificate or DNS zone
    "unavailable-domain": ("domain", 0.6),
    # the same failure class in the logs (disk-full, connection-pool), the same release: with a place
    "symptom": ("symptom", 0.45),
    "technology": ("technology", 0.45),
    # the same rule in the same namespace (so 0.45 with the namespace): with one more weak signal
    "rule": ("alertname", 0.3),
    # the same scrape job beside different instances: many targets, a link only with more
    "job": ("job", 0.15),
    "release": ("release", 0.45),
    # the same error line (values masked) in both alerts' logs: with a place or a release
    "line": ("line", 0.4),
    "node": ("node", 0.35),
    "zone": ("zone", 0.15),
    "namespace": ("namespace", 0.15),
    "domain": ("domain", 0.15),
}
# Failure classes that are rarely two at once in one cluster: resolvers and certificates fail for everyone.
SHARED_SYMPTOMS = {"symptom=dns": 0.6, "symptom=certificate": 0.6}
GROUP_KEY_WEIGHT = 0.6  # Alertmanager grouped them by a label that places them
WIDE_GROUP_KEY_WEIGHT = 0.05  # grouped by alertname, severity, namespace ... only: next to nothing
# Signals that say the alert is about the very object a member is about: no coincidence, whatever the
# time, while the incident is open (an OOM kill, then the crash loop its `for: 15m` fires later).
SAME_OBJECT = ("pod", "workload", "instance", "volume")
# A full disk explains "no space left on device" of whoever writes to it, not of every writer in
# the cluster: each machine fills its own disks. The link needs a place too (a namespace, a node).
# Likewise a certificate that will expire soon and the x509 errors of the moment: one story only
# where they meet (the mesh's issuer warned of, then its proxies failing), not cluster-wide.
LOCAL_CAUSES = {"symptom=local-disk-full": 0.45, "symptom=certificate-expiring": 0.45}
# Causes that name a class of things, not one: a technology, a release, an error line, some node's
# agents (a node agent's TargetDown says one of its targets is down, not which).
_CLASS_CAUSES = frozenset({"technology", "release", "line", "node-agents"})
# Shared by two failing members, these become a suspected cause of their incident (_correlate).
SUSPECT_KINDS = ("release=", "line=")
# Signal names of cause links, by the kind of the cause entity.
_CAUSE_SIGNAL = {"host": "instance", "needs": "dependency"}


class Score(Frozen, frozen=True):
    value: float
    signals: tuple[str, ...]  # strongest first
    explained: bool  # one of the incident's causes explains the alert
    explains: bool  # the alert's causes explain members of the incident
    same_object: bool = False  # the alert is about an object a member is about (pod, workload, host, volume)
    # a cause link names the very thing (a node, host, service, dependency), not only its class
    named_cause: bool = False


NO_MATCH = Score(0.0, (), False, False)


@dataclass
class View:
    """An index entry with its lists as sets, built once per batch and kept in step with the entry."""

    entry: IndexEntry
    entities: set[str]
    causes: set[str]  # the listed causes and the root's
    entity_names: Names  # entry.entities as it grows (``entities`` is its set)
    cause_names: Names
    namespaced: bool = False  # a member named its namespace
    # How much of the entry's lists the batch's lookups hold already (``OpenEntries``): a list the
    # batch grows in place is the same list before and after (``Names``), so its old length is kept here.
    held_entities: int = 0
    held_causes: int = 0
    held_keys: int = 0

    @classmethod
    def of(
        cls, entry: IndexEntry, entity_names: Names | None = None, cause_names: Names | None = None
    ) -> View:
        """``entity_names``, ``cause_names``: the entry's lists as ``Names`` already (their ``names`` are
        ``entry.entities`` and ``entry.causes``), when its maker has them: an entry the batch opens,
        whose lists would otherwise be turned into sets again."""
        entity_names = entity_names or Names(entry.entities, MAX_ENTITIES, MAX_PER_KIND)
        cause_names = cause_names or Names(entry.causes, MAX_CAUSES, MAX_CAUSES_PER_KIND)
        causes = {*entry.causes, *entry.root_causes}
        namespaced = any(name.startswith("namespace=") for name in entry.entities)
        return cls(
            entry,
            entity_names.present,
            causes,
            entity_names,
            cause_names,
            namespaced,
            len(entry.entities),
            len(entry.causes),
            len(entry.group_keys),
        )

    def clustered(self) -> bool:
        """Whether any member named its cluster (looked at only when the alert's cluster is not there)."""
        return any(name.startswith("cluster=") for name in self.entities)


def in_time(entry: IndexEntry, at: datetime, window: timedelta) -> bool:
    """Within the window of the incident's span (members may arrive slightly out of order)."""
    return entry.opened_at - window <= at <= entry.last_at + window


def score(print_: Footprint, view: View, explaining: bool = True) -> Score:
    """The fit of an alert to an incident, time and cluster aside (the caller gates those);
    ``explaining=False`` leaves out what the alert's causes explain of the members. ``may_reach``
    bounds it by the names both sides share: a new weight must stay within that bound, or the
    incidents it would join are never scored (tests/unit/incidents/test_score_bound.py)."""
    if not print_.placed:
        return NO_MATCH
    weights: dict[str, float] = {}
    explained_by = _elsewhere_dropped(
        print_.entities & view.causes, print_.entities, view.entities, view.causes
    )
    explains = (
        _elsewhere_dropped(print_.causes & view.entities, view.entities, print_.entities, print_.causes)
        if explaining
        else frozenset()
    )
    shared: frozenset[str] | set[str] = print_.entities & view.entities
    if print_.namespace and view.namespaced and f"namespace={print_.namespace}" not in view.entities:
        # A bare service name in two namespaces is two services (every team has a "frontend").
        explained_by, explains, shared = (_no_service(names) for names in (explained_by, explains, shared))
    named_cause = False
    for entity in explained_by | explains:
        kind = kind_of(entity)
        signal = _CAUSE_SIGNAL.get(kind, kind)
        weight = LOCAL_CAUSES.get(entity) or (CLASS_CAUSE_WEIGHT if kind in _CLASS_CAUSES else CAUSE_WEIGHT)
        named_cause = named_cause or weight >= CAUSE_WEIGHT
        weights[signal] = max(weights.get(signal, 0.0), weight)
    for entity in shared:
        signal, weight = _shared(entity)
        if signal and weight > weights.get(signal, 0.0):
            weights[signal] = weight
    if print_.group_key and print_.group_key in view.entry.group_keys:
        weights["group_key"] = GROUP_KEY_WEIGHT if print_.group_key_specific else WIDE_GROUP_KEY_WEIGHT
    strongest = sorted([(-weight, signal) for signal, weight in weights.items()])
    signals = tuple([signal for _, signal in strongest])
    same_object = False
    for signal in SAME_OBJECT:
        if weights.get(signal, 0.0) >= THRESHOLD:
            same_object = True
            break
    return Score(
        round(sum(weights.values()), 6), signals, bool(explained_by), bool(explains), same_object, named_cause
    )


def may_reach(print_: Footprint, view: View) -> bool:
    """Whether ``score`` could reach THRESHOLD, from a bound cheaper than the score: any cause link
    may weigh a whole 1.0, and without one the score is at most every shared entity's weight plus the
    group key's. A storm's alert shares its namespace and rule with the other storms there (0.45
    together) and is scored against the one incident that can take it, not against all of them."""
    if not print_.placed:
        return False
    if not (print_.causes.isdisjoint(view.entities) and print_.entities.isdisjoint(view.causes)):
        return True
    bound = 0.0
    for entity in print_.entities & view.entities:
        bound += _shared(entity)[1]
    if print_.group_key and print_.group_key in view.entry.group_keys:
        bound += GROUP_KEY_WEIGHT if print_.group_key_specific else WIDE_GROUP_KEY_WEIGHT
    return bound >= THRESHOLD - 1e-6  # ``score`` rounds its sum to 6 places


# Cached: a storm's alerts share their node, namespace and rule with the incidents they are scored
# against, and ask for the same few names' weights again and again.
@lru_cache(maxsize=16384)
def _shared(entity: str) -> tuple[str, float]:
    """The signal and weight of an entity both sides hold, not as a cause: its kind's, or its class's
    for the failure classes a whole cluster shares (SHARED_SYMPTOMS). ``score`` and ``may_reach`` both
    ask here, so the bound cannot fall behind the score."""
    signal, weight = SHARED.get(kind_of(entity), ("", 0.0))
    return signal, SHARED_SYMPTOMS.get(entity, weight)


def _no_service(names: frozenset[str] | set[str]) -> frozenset[str] | set[str]:
    if not any(name.startswith("service=") for name in names):
        return names
    return {name for name in names if not name.startswith("service=")}


def _elsewhere_dropped(
    links: frozenset[str] | set[str],
    failing: frozenset[str] | set[str],
    failed: frozenset[str] | set[str],
    failed_causes: frozenset[str] | set[str],
) -> frozenset[str] | set[str]:
    """Cause links without those that the two sides' own words refute:

    - a technology known by its class only, when the side failing on it says where its own is
      (``pinned=redis@shop``) and the side whose alert is about that technology runs it elsewhere
      (``technology-in=redis@cache``): a service failing on its namespace's redis-master is not
      explained by another namespace's Redis crash-looping. A named cause (dependency=redis-master)
      still explains it, and so does a technology nobody placed;
    - exhausted connections, when the failing side says on which technology (a Redis client's pool) and
      the side that names the limit is about others only (PostgreSQL's too many connections)."""
    for link in links:
        if link.startswith(("technology=", "symptom=connection-pool")):
            break
    else:
        return links
    return {
        link
        for link in links
        if not (
            (
                link.startswith("technology=")
                and _elsewhere(link.removeprefix("technology="), failing, "pinned=", failed, "technology-in=")
            )
            or (link == "symptom=connection-pool" and _other_technology(failing, failed_causes))
        )
    }


def _other_technology(failing: frozenset[str] | set[str], failed_causes: frozenset[str] | set[str]) -> bool:
    """The failing side fails on some technology, the cause side is about some, and none is both."""
    theirs = {name for name in failed_causes if name.startswith("technology=")}
    ours = {name for name in failing if name.startswith("technology=")}
    return bool(theirs) and bool(ours) and theirs.isdisjoint(ours)


def _elsewhere(
    technology: str,
    one: frozenset[str] | set[str],
    one_kind: str,
    other: frozenset[str] | set[str],
    other_kind: str,
) -> bool:
    """Both sides place ``technology`` (``one_kind``/``other_kind``: pinned or technology-in), and
    in no namespace in common."""
    if f"{one_kind}{technology}" not in one or f"{other_kind}{technology}" not in other:
        return False
    if len(one) > len(other):  # look up the smaller side's places in the larger set
        one, one_kind, other, other_kind = other, other_kind, one, one_kind
    prefix = f"{one_kind}{technology}@"
    places = [name.removeprefix(prefix) for name in one if name.startswith(prefix)]
    return not any(f"{other_kind}{technology}@{place}" in other for place in places)


def cluster_allows(print_: Footprint, view: View) -> bool:
    """Alerts of different clusters never meet (the override label aside)."""
    return not print_.cluster or f"cluster={print_.cluster}" in view.entities or not view.clustered()
