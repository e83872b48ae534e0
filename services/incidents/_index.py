"""The open-incident index: what matching needs to know of each open (or recently resolved) incident.

One small msgspec value per shard in the key-value store (``_store``); its lists are capped so a storm
of 50,000 alerts keeps it the size of a few hundred names per incident. Names are capped per kind, not
as one list: a storm's 500 pods fill the pods' share and nothing else, so the node that is down, the
workloads and services stay in the entry and later alerts still meet their incident through them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

import msgspec

import schemas

# Per kind ("pod", "service", "node" ...) and in all: a few hundred members' own names (the same
# service's or pod's next alert joins by them), a few tens of kilobytes per incident at most.
MAX_PER_KIND = 256
MAX_ENTITIES = 2048
MAX_CAUSES = 512
MAX_CAUSES_PER_KIND = 128
# names kept of what the root is about: a machine's few names, a service and its workload
MAX_SUBJECT = 16
# names kept of the root's own footprint once others joined: enough to tell whether a later cause
# explains the root itself (a machine's names, its service, pod, namespace, hosts)
MAX_ROOT_ENTITIES = 128
MAX_GROUP_KEYS = 8


class IndexEntry(msgspec.Struct, kw_only=True, omit_defaults=True, frozen=True):
    """One open (or recently resolved) incident, as matching needs it."""

    id: str
    opened_at: datetime
    last_at: datetime
    status: schemas.IncidentStatus = "open"
    resolved_at: datetime | None = None
    # "kind=value", e.g. "node=ip-10-0-1-7", "service=checkout", "dependency=db-main"; capped
    entities: list[str] = []
    # entities a member says are down or failing (a node NotReady, a database unreachable); capped
    causes: list[str] = []
    group_keys: list[str] = []
    # the INCIDENT_KEY_LABEL value, when members carry one
    override: str = ""
    # episode key of the current root, and what it says is failing (decides who explains whom)
    root_alert: str = ""
    root_causes: list[str] = []
    # what the root is about (Footprint.subject): a new root meeting it refines the cause, not moves it
    root_subject: list[str] = []
    # the root's entities, kept once a second member joined (until then ``entities`` are the root's);
    # empty in an entry written before they were kept: unknown
    root_entities: list[str] = []
    # a member joined that the current root explains: the root is a cause, not only a symptom
    root_explains: bool = False
    # the current root says its subject is down (a node NotReady, a database down)
    root_down: bool = False
    member_count: int = 0


class OpenIndex(msgspec.Struct, kw_only=True):
    entries: list[IndexEntry] = []


def merged(current: list[str], new: Iterable[str], cap: int) -> list[str]:
    """``current`` then the new values it lacks, in sorted order, up to ``cap``: the first names stay."""
    if len(current) >= cap:
        return current
    present = set(current)
    added = [value for value in sorted(new) if value not in present]
    return current + added[: cap - len(current)] if added else current


_KINDS = re.compile(r"^([^=\n]*)=", re.MULTILINE)


def _kind(name: str) -> str:
    return name.split("=", 1)[0]


class Names:
    """One capped list of "kind=value" names as a batch grows it: at most ``per_kind`` names of a kind
    and ``cap`` in all, the first ones staying; ``present`` and the counts kept in step (no rescans).

    The list it is given is copied at its first growth and grown in place after that: an entry the
    batch read may be read again (a placement given up is placed again on a newer view), while the
    entries the batch makes of one incident are each superseded by the next (``OpenEntries.replace``),
    and a storm's incident of thousands of names would otherwise be copied for each alert joining it."""

    def __init__(self, names: list[str], cap: int, per_kind: int) -> None:
        self.names = names
        self._owned = False  # ``names`` is a copy of its own: grown in place
        self.present = set(names)
        self._cap, self._per_kind = cap, per_kind
        self._counts: Counter[str] | None = None  # counted when first needed
        self._refused: set[str] = set()  # over a cap: refused again and again in a storm

    def grown(self, new: frozenset[str] | set[str]) -> list[str]:
        """The list with the new names it lacks appended in sorted order, as far as the caps allow."""
        added = sorted(new.difference(self.present, self._refused))
        if not added:
            return self.names
        if self._counts is None:
            if len(self.names) + len(added) <= self._per_kind:  # no kind can reach its cap
                self.present.update(added)
                return self._appended(added)
            # in C: a storm's entry holds thousands of names and is counted once per batch
            self._counts = Counter(_KINDS.findall("\n".join(self.names)))
        kept: list[str] = []
        for name in added:
            kind = _kind(name)
            count = self._counts.get(kind, 0)
            if count < self._per_kind and len(self.names) + len(kept) < self._cap:
                self._counts[kind] = count + 1
                self.present.add(name)
                kept.append(name)
            else:
                self._refused.add(name)
        return self._appended(kept) if kept else self.names

    def _appended(self, added: list[str]) -> list[str]:
        if self._owned:
            self.names.extend(added)
        else:
            self.names, self._owned = [*self.names, *added], True
        return self.names
