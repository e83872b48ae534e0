"""Incident state in a real key-value bucket: racing writers and redelivered batches count each alert once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._handler import Analyst
from services.analyst._incidents import Incidents
from services.incidents import (
    Assignment,
    Correlator,
    IncidentSettings,
    IncidentState,
    IncidentStore,
    Joining,
    MemberRecord,
    join,
    member_key,
)
from services.runtime import RetryLater
from tests.integration.incidents._storm import NODE, enriched, node_storm, resolved
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)


def grouping(store: IncidentStore, js: JetStreamContext) -> Incidents:
    return Incidents(store, Correlator(SETTINGS), SETTINGS, js)


def member(message: schemas.EnrichedAlert) -> schemas.IncidentMember:
    alert = message.alert
    return schemas.IncidentMember(
        alert_id=message.id, alertname=alert.labels["alertname"], status="firing", starts_at=alert.starts_at
    )


async def stored_state(store: IncidentStore, incident_id: str) -> IncidentState:
    state, _ = await store.state(incident_id)
    assert state is not None, f"no state stored for {incident_id}"
    return state


def counting(
    a: Assignment, joined: schemas.IncidentMember, now: datetime
) -> Callable[[IncidentState | None], IncidentState]:
    joining = Joining(a.episode, a.incident_id, a.role, tuple(a.signals), new_root=a.new_root)
    return lambda state: join(state, joined, joining, now)


async def written_before_dying(
    store: IncidentStore, storm: list[schemas.EnrichedAlert], *, counted: bool
) -> set[str]:
    """What a replica wrote for ``storm`` before it died: the index and the membership claims, and
    with ``counted`` the members counted into the state. The incidents it placed them in."""
    now = datetime.now(UTC)
    correlator = Correlator(SETTINGS)
    assignments = await store.correlate("prod", lambda index: correlator.assign(index, storm, now))
    by_episode = {schemas.episode_key(m.alert): m for m in storm}
    for a in assignments:
        await store.claim(a.episode, MemberRecord(incident=a.incident_id, role=a.role, shard="prod"))
        if counted:
            await store.change_state(a.incident_id, counting(a, member(by_episode[a.episode]), now))
    return {a.incident_id for a in assignments}


async def test_writers_racing_on_one_incident_lose_no_member(store: IncidentStore) -> None:
    storm = node_storm(39)
    now = datetime.now(UTC)

    async def add(message: schemas.EnrichedAlert) -> None:
        joining = Joining(schemas.episode_key(message.alert), "inc-race", "caused")
        await store.change_state("inc-race", lambda state: join(state, member(message), joining, now))

    await asyncio.gather(*(add(message) for message in storm))
    state = await stored_state(store, "inc-race")
    assert state.member_count == state.firing_count == 40
    assert state.generation == 40


async def test_a_batch_delivered_twice_is_counted_once(store: IncidentStore, js: JetStreamContext) -> None:
    storm = node_storm(9)
    incidents = grouping(store, js)
    await incidents.prepare(storm)
    first = [incidents.take(message) for message in storm]
    await incidents.prepare(storm)
    again = [incidents.take(message) for message in storm]
    assert first == again
    (incident_id,) = {placed.ref.id for placed in first if placed.ref is not None}
    state = await stored_state(store, incident_id)
    assert state.member_count == 10


async def test_members_claimed_by_a_replica_that_died_are_counted_by_the_redelivery(
    store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    await written_before_dying(store, storm, counted=False)
    incidents = grouping(store, js)
    await incidents.prepare(storm)
    placed = [incidents.take(message) for message in storm]
    (incident_id,) = {p.ref.id for p in placed if p.ref is not None}
    assert all(not p.degraded for p in placed)
    state = await stored_state(store, incident_id)
    assert state.member_count == 10
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"


async def test_members_counted_by_a_replica_that_died_before_marking_them_are_not_counted_again(
    store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    incidents = grouping(store, js)
    await incidents.prepare(storm)
    (incident_id,) = {p.ref.id for p in (incidents.take(m) for m in storm) if p.ref is not None}
    kv = await js.key_value("test-incidents")
    for message in storm:  # the records as they were before the replica could mark them counted
        key = member_key(schemas.episode_key(message.alert))
        record = schemas.decode((await kv.get(key)).value or b"", MemberRecord)
        await kv.put(key, schemas.encode(msgspec.structs.replace(record, counted=False)))
    await grouping(store, js).prepare(storm)
    state = await stored_state(store, incident_id)
    assert state.member_count == 10


async def test_a_root_member_rejoined_after_a_later_root_was_counted_does_not_take_the_root_back(
    store: IncidentStore, js: JetStreamContext
) -> None:
    # The pods' alerts came first: one of them opened the incident, the node's NotReady became its root.
    starts = datetime.now(UTC)
    pods = node_storm(4, starts)[1:]
    down = enriched("KubeNodeNotReady", starts + timedelta(seconds=2), node=NODE, severity="critical")
    now = datetime.now(UTC)
    correlator = Correlator(SETTINGS)
    # A replica placed them all and claimed them, then died before counting any.
    assignments = await store.correlate("prod", lambda index: correlator.assign(index, [*pods, down], now))
    for a in assignments:
        await store.claim(a.episode, MemberRecord(incident=a.incident_id, role=a.role, shard="prod"))
    opener = next(a for a in assignments if a.opened)
    assert opener.episode != schemas.episode_key(down.alert)
    # Their redeliveries reach two replicas in other batches: the NotReady first, then the pods.
    await grouping(store, js).prepare([down])
    await grouping(store, js).prepare(pods)

    state = await stored_state(store, opener.incident_id)
    assert state.member_count == 5
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"
    assert "root" not in state.pending


async def test_a_review_lost_with_a_replica_that_died_after_counting_is_asked_for_again(
    store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    # The count written too, then nothing more: no review went out and no member was marked counted.
    (incident_id,) = await written_before_dying(store, storm, counted=True)
    assert await subject_count(js, schemas.REVIEW) == 0

    await grouping(store, js).prepare(storm)  # the redelivery

    reviews = await read_subject(js, schemas.REVIEW, schemas.IncidentReview, count=1)
    assert [(r.id, r.kind) for r in reviews] == [(incident_id, "analyse")]
    state = await stored_state(store, incident_id)
    assert state.member_count == 10


async def test_a_resolution_before_its_firing_alert_is_counted_waits_and_then_resolves_the_incident(
    store: IncidentStore, js: JetStreamContext
) -> None:
    (firing,) = node_storm(0)
    # Its batch claims and counts it, then fails before the marks (no review stored): "still writing".
    info = await js.stream_info(schemas.STREAM)
    await js.update_stream(
        config=dataclasses.replace(info.config, subjects=[schemas.RAW, schemas.ANALYZED, schemas.INCIDENTS])
    )
    with pytest.raises(Exception, match=r"review|responders|alerts"):
        await grouping(store, js).prepare([firing])
    await js.update_stream(config=info.config)
    incidents = grouping(store, js)
    analyst = Analyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()), incidents=incidents)
    ended = resolved(firing)

    await incidents.prepare([ended])
    with pytest.raises(RetryLater) as early:
        await analyst.handle(ended)  # applied now it would be lost: the member is not marked counted
    assert (early.value.delay or 0) > 0  # it comes back, not dead-lettered
    await incidents.prepare([firing])  # the firing batch's redelivery finishes it
    await incidents.prepare([ended])  # the resolution's
    analyzed = await analyst.handle(ended)

    assert analyzed.incident is not None
    state = await stored_state(store, analyzed.incident.id)
    assert (state.member_count, state.firing_count) == (1, 0)
    assert state.grace_until is not None  # the incident resolves once its grace is over


async def test_members_stay_unmarked_until_their_incident_review_is_stored(
    store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    # The stream takes no review for a while (every subject but alerts.review): the batch fails.
    info = await js.stream_info(schemas.STREAM)
    await js.update_stream(
        config=dataclasses.replace(info.config, subjects=[schemas.RAW, schemas.ANALYZED, schemas.INCIDENTS])
    )
    with pytest.raises(Exception, match=r"review|responders|alerts"):
        await grouping(store, js).prepare(storm)
    kv = await js.key_value("test-incidents")
    for message in storm:
        entry = await kv.get(member_key(schemas.episode_key(message.alert)))
        assert not schemas.decode(entry.value or b"", MemberRecord).counted  # for the redelivery to find
    await js.update_stream(config=info.config)

    incidents = grouping(store, js)
    await incidents.prepare(storm)  # the redelivery

    (incident_id,) = {p.ref.id for p in (incidents.take(m) for m in storm) if p.ref is not None}
    reviews = await read_subject(js, schemas.REVIEW, schemas.IncidentReview, count=1)
    assert [r.id for r in reviews] == [incident_id]
    state = await stored_state(store, incident_id)
    assert state.member_count == 10
