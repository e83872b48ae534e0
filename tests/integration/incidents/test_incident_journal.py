"""Incident state as a log on a real nats-server: racing replicas, redelivered batches and restarts
count each alert once, and every replica reads the same incidents."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import Incidents
from services.analyst._reviews import Reviewer
from services.incidents import Correlator, IncidentSettings, IncidentState, IncidentStore, Journal
from services.runtime import NatsSettings, RetryLater
from tests.integration.incidents._storm import enriched, node_storm, resolved
from tests.integration.incidents.conftest import open_journal
from tests.support.nats_server import NatsServer
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)


def grouping(journal: Journal, store: IncidentStore) -> Incidents:
    return Incidents(journal, store, Correlator(SETTINGS), SETTINGS)


def placed_in(incidents: Incidents, messages: list[schemas.EnrichedAlert]) -> set[str]:
    return {p.ref.id for p in (incidents.take(m) for m in messages) if p.ref is not None}


def counted(journal: Journal, incident_id: str) -> IncidentState:
    state = journal.state(incident_id)
    assert state is not None, f"no state for {incident_id}"
    return state


async def test_replicas_racing_on_one_shard_group_one_storm_and_count_every_alert_once(
    store: IncidentStore, js: JetStreamContext, nats_server: NatsServer
) -> None:
    storms = [node_storm(59, node=f"ip-10-0-{n}-7") for n in range(3)]
    interleaved = [message for wave in zip(*storms, strict=True) for message in wave]
    replicas = [await open_journal(js, nats_server) for _ in range(3)]
    try:
        incidents = [grouping(journal, store) for journal in replicas]
        batches = [interleaved[i : i + 20] for i in range(0, len(interleaved), 20)]
        # Every replica places its share of the batches at once, on the one shard of cluster "prod".
        await asyncio.gather(
            *(incidents[n % 3].prepare(batch) for n, batch in enumerate(batches)),
        )
        places = {
            m.id: p for n, batch in enumerate(batches) for m in batch if (p := incidents[n % 3].take(m))
        }
        restarted = await open_journal(js, nats_server)
    finally:
        for journal in replicas:
            await journal.close()

    try:
        for storm in storms:
            (incident_id,) = {places[m.id].ref.id for m in storm}  # type: ignore[union-attr]
            state = counted(restarted, incident_id)
            assert (state.member_count, state.firing_count) == (60, 60)
            assert state.root is not None
            assert state.root.alertname == "KubeNodeNotReady"
        assert len({p.ref.id for p in places.values() if p.ref is not None}) == 3
        # Every replica, and one started afterwards, holds the same view of the shard.
        views = [journal.views["prod"] for journal in [*replicas, restarted]]
        assert all(view.seq == views[0].seq for view in views)
        assert all(view.states == views[0].states for view in views)
        assert all(view.members == views[0].members for view in views)
        assert all(view.index == views[0].index for view in views)
    finally:
        await restarted.close()


async def test_a_batch_delivered_twice_is_counted_once(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    incidents = grouping(journal, store)
    await incidents.prepare(storm)
    first = [incidents.take(message) for message in storm]
    await incidents.prepare(storm)
    again = [incidents.take(message) for message in storm]
    assert first == again
    (incident_id,) = {p.ref.id for p in first if p.ref is not None}
    assert counted(journal, incident_id).member_count == 10
    # The second delivery changed nothing: the log holds the first batch's entry alone.
    assert journal.views["prod"].seq == (await js.stream_info("test-incidents-log")).state.last_seq


async def test_a_review_lost_after_its_batch_was_written_is_asked_for_again_by_the_redelivery(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    storm = node_storm(9)
    # The stream takes no review for a while (every subject but alerts.review): the batch is placed
    # and written, then fails, as a replica killed between its entry and its review would.
    info = await js.stream_info(schemas.STREAM)
    await js.update_stream(
        config=dataclasses.replace(info.config, subjects=[schemas.RAW, schemas.ANALYZED, schemas.INCIDENTS])
    )
    with pytest.raises(Exception, match=r"review|responders|alerts"):
        await grouping(journal, store).prepare(storm)
    await js.update_stream(config=info.config)
    assert await subject_count(js, schemas.REVIEW) == 0

    incidents = grouping(journal, store)
    await incidents.prepare(storm)  # the redelivery

    (incident_id,) = placed_in(incidents, storm)
    (message,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    assert [(r.id, r.kind) for r in message.reviews] == [(incident_id, "analyse")]
    assert counted(journal, incident_id).member_count == 10


async def test_a_batch_too_large_for_one_entry_is_written_in_parts(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    # Unrelated alerts with long labels: each opens an incident, whose state lists them.
    flood = [
        enriched("DiskFull", now, instance=f"db-{n}:9100", detail="x" * 1200, severity="warning")
        for n in range(1500)
    ]
    patient = msgspec.structs.replace(SETTINGS, incident_store_timeout_seconds=30.0)  # about size, not speed
    incidents = Incidents(journal, store, Correlator(patient), patient)
    await incidents.prepare(flood)

    places = [incidents.take(message) for message in flood]
    assert all(p.ref is not None and not p.degraded for p in places)
    assert len({p.ref.id for p in places if p.ref is not None}) == 1500
    assert (await js.stream_info("test-incidents-log")).state.messages > 3
    assert all(counted(journal, p.ref.id).member_count == 1 for p in places if p.ref is not None)


async def test_replicas_racing_with_unrelated_alerts_keep_their_placements_and_count_each_once(
    store: IncidentStore, js: JetStreamContext, nats_server: NatsServer
) -> None:
    now = datetime.now(UTC)
    # Busy hosts, each its own incident (as the pipeline benchmark floods them). Full disks would not
    # do: they share a symptom, and each batch looks at the other's incidents.
    hosts = [
        enriched("HighCPUUsage", now, instance=f"node-{n}:9100", job="node-exporter") for n in range(400)
    ]
    replicas = [await open_journal(js, nats_server) for _ in range(2)]
    try:
        incidents = [grouping(journal, store) for journal in replicas]
        batches = [hosts[i : i + 40] for i in range(0, len(hosts), 40)]
        await asyncio.gather(*(incidents[n % 2].prepare(batch) for n, batch in enumerate(batches)))
        places = {m.id: incidents[n % 2].take(m) for n, batch in enumerate(batches) for m in batch}
        restarted = await open_journal(js, nats_server)
    finally:
        for journal in replicas:
            await journal.close()
    try:
        ids = {p.ref.id for p in places.values() if p.ref is not None}
        assert len(ids) == 400
        assert all(counted(restarted, i).member_count == 1 for i in ids)
        # The two raced on the one cluster, and a lost race with unrelated alerts cost no second placing.
        assert sum(journal.lost for journal in replicas) > 0
        assert sum(journal.rebased for journal in replicas) == sum(journal.lost for journal in replicas)
        assert restarted.views["prod"].index == replicas[0].views["prod"].index
    finally:
        await restarted.close()


async def test_a_log_whose_entries_all_aged_out_is_read_at_once(
    store: IncidentStore, js: JetStreamContext, nats_server: NatsServer
) -> None:
    journal = await open_journal(js, nats_server)
    try:
        await grouping(journal, store).prepare(node_storm(3))
    finally:
        await journal.close()
    await js.purge_stream("test-incidents-log")  # what max_age does after a quiet week

    restarted = await Journal.open(js, "test-incidents", NatsSettings(), timedelta(hours=1))
    try:
        assert restarted.ready.is_set()
    finally:
        await restarted.close()


async def test_a_review_of_a_change_its_view_has_not_read_comes_back(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    review = schemas.IncidentReview(
        id="inc-000000000000", kind="analyse", generation=3, due=now, requested_at=now
    )
    analyst = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    reviewer = Reviewer(journal, store, analyst, SETTINGS, llm=False)

    with pytest.raises(RetryLater) as back:
        await reviewer.handle(schemas.IncidentReviews(reviews=[review]))

    assert back.value.error_type == "lagging"
    assert await subject_count(js, schemas.INCIDENTS) == 0


async def test_an_entry_written_before_its_batch_timed_out_still_has_its_review_sent(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    # One cluster's alert is placed at once; the other cluster's thousands take longer than the
    # store's timeout to correlate: the batch goes on degraded.
    quick = enriched("DiskFull", now, instance="db-1:9100", cluster="a")
    slow = [enriched("DiskFull", now, instance=f"db-{n}:9100", cluster="b") for n in range(3000)]
    hasty = msgspec.structs.replace(SETTINGS, incident_store_timeout_seconds=0.05)
    incidents = Incidents(journal, store, Correlator(hasty), hasty)

    await incidents.prepare([quick, *slow])

    assert incidents.take(quick).degraded
    # Cluster a's entry was written: its incident is announced all the same, not left unreviewed.
    (message,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1, timeout=10)
    (state,) = journal.views["a"].states.values()
    assert [review.id for review in message.reviews] == [state.id]


async def test_a_firing_alert_after_its_own_resolution_goes_on_alone_and_says_why(
    journal: Journal, store: IncidentStore, js: JetStreamContext
) -> None:
    (firing,) = node_storm(0)
    incidents = grouping(journal, store)
    # Its resolution first (the firing alert was on a replica killed before its entry was written).
    await incidents.prepare([resolved(firing)])
    assert incidents.take(resolved(firing)).ref is None

    await incidents.prepare([firing])  # its redelivery

    late = incidents.take(firing)
    assert late.ref is None
    assert "after its own resolution" in late.degraded
    assert journal.views["prod"].states == {}  # no incident opened for an alert already over
