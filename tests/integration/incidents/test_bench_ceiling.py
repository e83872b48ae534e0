"""bench.ceiling, the analyst that keeps no incident state. `just bench` prints its ratio as the most any
design of the state can pass. It only means that while the ceiling still does what no design can leave
out: group the alerts, announce each new incident once, and name the incident on every alert."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

import schemas
from bench.ceiling import CeilingIncidents
from services.incidents import Correlator, IncidentSettings, IncidentStore
from tests.integration.incidents._storm import node_storm, unrelated
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)


@pytest.mark.parametrize(("correlated", "incidents"), [(True, 2), (False, 22)])
async def test_the_ceiling_announces_each_incident_once_and_keeps_nothing_in_the_store(
    js: JetStreamContext, store: IncidentStore, correlated: bool, incidents: int
) -> None:
    batch = [*node_storm(20), unrelated()]
    ceiling = CeilingIncidents(store, Correlator(SETTINGS), SETTINGS, js, correlated=correlated)

    await ceiling.prepare(batch)

    refs = [ceiling.take(message).ref for message in batch]
    assert all(ref is not None for ref in refs)
    ids = [ref.id for ref in refs if ref is not None]
    assert len(set(ids)) == incidents
    if correlated:  # the node and its pods together, the alert of another cluster apart
        assert len(set(ids[:-1])) == 1
        assert ids[-1] != ids[0]
    events = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=incidents)
    assert {event.incident.id for event in events} == set(ids)
    assert await subject_count(js, schemas.INCIDENT_OPENED) == incidents
    episodes = [schemas.episode_key(message.alert) for message in batch]
    assert await store.members(episodes) == [None] * len(batch)  # no state: that is what it measures
