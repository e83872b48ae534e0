"""The open-incident index: what matching needs to know of each open (or recently resolved) incident.

One small msgspec value per shard in the key-value store (``_store``); its lists are capped so a storm
of 50,000 alerts keeps it the size of a few hundred names per incident. Names are capped per kind, not
as one list: a storm's 500 pods fill the pods' share and nothing else, so the node that is down, the
workloads and services stay in the entry and later alerts still meet their incident through them
(``_names`` grows the lists).
"""

from __future__ import annotations

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
