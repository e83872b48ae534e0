"""Fewer messages per alert on a real nats-server: many keys in one read, the root inside its state."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js import JetStreamContext

import schemas
from services.analyst._incidents import Incidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, MemberRecord
from services.incidents._kv import MULTI_KEYS
from tests.integration.incidents._storm import enriched, node_storm

SETTINGS = IncidentSettings(incidents_enabled=True)


async def test_many_keys_read_in_one_request_give_each_key_its_value_revision_or_absence(
    store: IncidentStore,
) -> None:
    assert store.pipe.multi  # the test server is 2.11 or later
    keys = [f"member.k{n}" for n in range(MULTI_KEYS + 40)]  # more than one request's worth
    for n in range(0, len(keys), 7):
        await store.kv.put(keys[n], f"v{n}".encode())
    await store.kv.put(keys[14], b"again")
    await store.kv.delete(keys[21])
    sent = store.pipe.sent

    read = await store.pipe.get_many(keys)

    assert store.pipe.sent - sent == 2  # two requests for 296 keys
    one_by_one = await store.pipe.get_many(keys, latest=True)  # a request per key, from the leader
    expected = {n: f"v{n}".encode() for n in range(0, len(keys), 7)} | {14: b"again", 21: None}
    assert [value for value, _ in read] == [expected.get(n) for n in range(len(keys))]
    # Written keys have a revision, a deleted one too (it still guards a create); absent ones none.
    assert [n for n, (_, revision) in enumerate(read) if revision] == sorted(expected)
    assert read == one_by_one
    assert await store.pipe.get_many([keys[7], keys[7], "member.none"]) == [read[7], read[7], (None, 0)]


async def test_a_batch_of_new_alerts_reads_its_memberships_in_one_request(
    store: IncidentStore, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    alerts = [enriched("HighCPUUsage", now, instance=f"node-{n}:9100") for n in range(50)]
    await store.claim(schemas.episode_key(alerts[3].alert), MemberRecord(incident="inc-x", role="root"))
    sent = store.pipe.sent

    records = await store.members([schemas.episode_key(a.alert) for a in alerts])

    assert store.pipe.sent - sent == 1
    assert [n for n, record in enumerate(records) if record is not None] == [3]
    assert records[3] == MemberRecord(incident="inc-x", role="root")


async def test_an_incident_keeps_its_roots_message_inside_its_state_and_its_review_reads_it(
    store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(3)
    incidents = Incidents(store, Correlator(SETTINGS), SETTINGS, js)
    await incidents.prepare(storm)
    placed = incidents.take(storm[0])
    assert placed.ref is not None

    ((state, _),) = await store.states([placed.ref.id])
    assert state is not None
    root, *others = state.exemplars
    assert schemas.decode(bytes(root.kept), schemas.EnrichedAlert) == storm[0]  # the node, the root
    # No key of its own: the state written is the root's message written.
    assert await store.pipe.get_many([f"exemplar.{state.id}.0"]) == [(None, 0)]

    (kept,) = await store.exemplars_of([state])
    assert kept[0][0] == storm[0]
    assert len(kept) == 1 + len(others)  # the other alert names' exemplars, from their own keys
