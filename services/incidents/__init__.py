"""Incidents: related alerts grouped across replicas, analysed once, notified once (docs/incidents.md).

A library the analyst uses; pure logic except ``_journal`` (the log) and ``_store`` (exemplars).
"""

# ruff: noqa: E402 -- whether correlation runs compiled (services/compiled.py) is settled before it loads.
from services import compiled

compiled.install()

from services.incidents._correlate import Assignment, Correlator, incident_id
from services.incidents._events import after_sent, event, incident
from services.incidents._index import IndexEntry, OpenIndex
from services.incidents._journal import EntryTooLarge, Journal
from services.incidents._kinds import NumbersAlike, lone_numbers, salient
from services.incidents._lifecycle import (
    EXEMPLAR_SLOTS,
    Exemplar,
    IncidentState,
    Joining,
    join,
    material,
    new_review,
    resolve_member,
    review_due,
    with_analysis,
)
from services.incidents._review import event_kind, not_due, resolved_in
from services.incidents._settings import IncidentSettings
from services.incidents._store import Conflicted, IncidentStore, MemberRecord, shard_of
from services.incidents._topology import Topology, load_topology
from services.incidents._views import LogEntry, Reads, ShardView

__all__ = [
    "EXEMPLAR_SLOTS",
    "Assignment",
    "Conflicted",
    "Correlator",
    "EntryTooLarge",
    "Exemplar",
    "IncidentSettings",
    "IncidentState",
    "IncidentStore",
    "IndexEntry",
    "Joining",
    "Journal",
    "LogEntry",
    "MemberRecord",
    "NumbersAlike",
    "OpenIndex",
    "Reads",
    "ShardView",
    "Topology",
    "after_sent",
    "event",
    "event_kind",
    "incident",
    "incident_id",
    "join",
    "load_topology",
    "lone_numbers",
    "material",
    "new_review",
    "not_due",
    "resolve_member",
    "resolved_in",
    "review_due",
    "salient",
    "shard_of",
    "with_analysis",
]
