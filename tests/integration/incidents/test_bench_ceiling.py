"""bench.ceiling, the analyst that keeps no incident state. `just bench` prints its ratio as the most the
pipeline passes with this correlator. It only means that while the ceiling still does what no design can
leave out: group the alerts across batches, announce each new incident once, and name the incident on
every alert, and writes nothing else."""

from __future__ import annotations

from collections import defaultdict

import pytest
from nats.js import JetStreamContext

import schemas
from bench.ceiling import CeilingIncidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from tests.integration.incidents._storm import node_storm
from tests.support.stream import read_subject, subject_count

# The events are held for the grouping wait, as the analyst holds them; a short one keeps the test short.
SETTINGS = IncidentSettings(incidents_enabled=True, incident_group_wait_seconds=0.2)


@pytest.mark.parametrize(("correlated", "incidents"), [(True, 2), (False, 41)])
async def test_the_ceiling_announces_each_incident_once_and_keeps_nothing_in_the_store(
    js: JetStreamContext, store: IncidentStore, journal: Journal, correlated: bool, incidents: int
) -> None:
    storm, other = node_storm(20), node_storm(19, node="node-b")
    ceiling = CeilingIncidents(journal, store, Correlator(SETTINGS), SETTINGS, correlated=correlated)

    # Each storm's node and first pods in one batch, the rest of its pods in the next.
    first, second = [*storm[:10], *other[:10]], [*storm[10:], *other[10:]]
    await ceiling.prepare(first)
    refs = [ceiling.take(message).ref for message in first]
    await ceiling.prepare(second)
    refs += [ceiling.take(message).ref for message in second]

    assert all(ref is not None for ref in refs)
    ids = [ref.id for ref in refs if ref is not None]
    assert len(set(ids)) == incidents
    if correlated:  # each node's alerts together, over both batches
        by_node = defaultdict(set)
        for message, incident in zip(first + second, ids, strict=True):
            by_node[message.alert.labels["node"]].add(incident)
        assert [len(incidents) for incidents in by_node.values()] == [1, 1]
    await ceiling.sent()
    events = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=incidents)
    assert sorted(event.incident.id for event in events) == sorted(set(ids))
    assert await subject_count(js, schemas.INCIDENT_OPENED) == incidents
    bucket = await js.stream_info(f"KV_{store.kv._name}")
    assert bucket.state.messages == 0  # no exemplar: that is what it measures
    log = await js.stream_info(journal.stream)
    assert log.state.messages == 0  # no membership, state or index either
