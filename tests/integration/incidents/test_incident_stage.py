"""The analyst with incidents on, against a real nats-server: a storm becomes one incident."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import nats
import pytest
from nats.js import JetStreamContext

import schemas
from services.analyst import SPEC
from services.incidents import IncidentSettings, IncidentState, Journal
from services.runtime import NatsSettings, provision, serve_stage
from tests.fakes.llm import FakeLlm
from tests.integration.incidents._storm import (
    by_incident,
    incident_settings,
    node_storm,
    publish,
    resolved,
    unrelated,
)
from tests.support.nats_server import NatsServer
from tests.support.processes import metric_at
from tests.support.services import running_stage
from tests.support.stream import caught_up, read_subject, subject_count


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def test_a_storm_is_opened_once_after_the_grouping_wait_and_resolved_once(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = incident_settings(nats_server.url)
    await provision(js, settings)
    storm, other = node_storm(30), unrelated()
    async with running_stage(SPEC, settings):
        await publish(js, [*storm, other])
        analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(storm) + 1)
        opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=2, timeout=20)
        await publish(js, [resolved(message) for message in storm])
        (closing,) = await read_subject(
            js, schemas.INCIDENT_RESOLVED, schemas.IncidentEvent, count=1, timeout=20
        )
        ended = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=2 * len(storm) + 1)
        again = node_storm(0)  # the node goes down again, a minute later
        await publish(js, again)
        (reopened,) = await read_subject(
            js, schemas.INCIDENT_UPDATED, schemas.IncidentEvent, count=1, timeout=20
        )
        await caught_up(js, "incidents")
        opened_total = await subject_count(js, schemas.INCIDENT_OPENED)

    refs = {message.id: message.incident for message in ended}
    assert all(ref is not None for ref in refs.values())
    storm_ids = {refs[message.id].id for message in storm}  # type: ignore[union-attr]
    (incident_id,) = storm_ids
    assert refs[other.id].id != incident_id  # type: ignore[union-attr]
    assert refs[storm[0].id].role == "root"  # type: ignore[union-attr]
    assert all(message.analysis.analyzer == "rules" for message in analyzed)

    events = by_incident(opened)
    (first,) = events[incident_id]
    wait = timedelta(seconds=IncidentSettings.of(settings).incident_group_wait_seconds)
    assert first.sequence == 1
    assert first.sent_at >= first.incident.opened_at + wait
    assert first.incident.member_count == len(storm)
    assert first.incident.firing_count == len(storm)
    assert first.incident.root is not None
    assert first.incident.root.alertname == "KubeNodeNotReady"
    assert first.incident.analysis is not None
    assert first.incident.alertnames == {"KubeNodeNotReady": 1, "KubePodNotReady": 30}
    (lone,) = events[refs[other.id].id]  # type: ignore[union-attr]
    assert lone.incident.member_count == 1
    assert opened_total == 2

    assert closing.incident.id == incident_id
    assert closing.incident.status == "resolved"
    assert closing.incident.firing_count == 0
    assert closing.incident.member_count == len(storm)
    assert closing.sequence == first.sequence + 1  # nothing between: the storm came whole

    assert reopened.incident.id == incident_id
    assert "reopened" in reopened.changes
    assert reopened.incident.status == "open"
    assert reopened.incident.member_count == len(storm) + 1
    assert reopened.incident.firing_count == 1
    assert reopened.sequence == closing.sequence + 1


async def test_three_replicas_group_five_interleaved_outages_into_five_incidents_counting_every_alert(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = incident_settings(nats_server.url)
    await provision(js, settings)
    storms = [node_storm(199, node=f"ip-10-0-{n}-7") for n in range(5)]
    interleaved = [message for wave in zip(*storms, strict=True) for message in wave]
    bucket = IncidentSettings.of(settings).incident_bucket
    async with contextlib.AsyncExitStack() as stack:
        ports = [await stack.enter_async_context(running_stage(SPEC, settings)) for _ in range(3)]
        await publish(js, interleaved, at_once=50)
        analyzed = await read_subject(
            js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(interleaved), timeout=60
        )
        placed = {message.id: message.incident for message in analyzed}
        incident_ids = {placed[storm[0].id].id for storm in storms}  # type: ignore[union-attr]
        states = [await _counted(js, bucket, incident_id, 200) for incident_id in incident_ids]
        handled = [await _metric(port, "aiops_messages_total", stage="analyst") for port in ports]
        await caught_up(js, "incidents", timeout=30)
        opened = await subject_count(js, schemas.INCIDENT_OPENED)
        entries, written, read = await _log_accounted(js, bucket, ports)

    for storm in storms:
        assert {placed[message.id].id for message in storm} == {placed[storm[0].id].id}  # type: ignore[union-attr]
    assert len(incident_ids) == 5
    assert [(s.member_count, s.firing_count) for s in states] == [(200, 200)] * 5
    assert opened == 5
    assert all(count > 0 for count in handled), f"every replica should have handled alerts: {handled}"
    # Each replica counts its own appends (together, every entry of the log) and reads every other
    # replica's entries whole.
    assert sum(written) == entries, (written, entries)
    assert all(w > 0 for w in written), written
    assert all(r >= entries - w for w, r in zip(written, read, strict=True)), (written, read)


async def test_a_replica_killed_mid_batch_loses_no_member_and_counts_none_twice(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = incident_settings(nats_server.url, ack_wait_seconds=2)
    await provision(js, settings)
    storm = node_storm(199)
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    doomed = asyncio.create_task(serve_stage(SPEC, settings, stop=stop, started=started))
    await asyncio.wait_for(started, timeout=20)
    await publish(js, storm)
    await _first_batch_placed(js, IncidentSettings.of(settings).incident_bucket)
    doomed.cancel()  # no graceful stop: what it was writing is left half done
    with contextlib.suppress(asyncio.CancelledError):
        await doomed
    async with running_stage(SPEC, settings):  # the survivor gets the dead replica's batches again
        analyzed = await read_subject(
            js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(storm), timeout=30
        )
        await caught_up(js, "analyst", timeout=30)
        placed = {message.id: message.incident for message in analyzed}
        (incident_id,) = {ref.id for ref in placed.values() if ref is not None}
        state = await _counted(js, IncidentSettings.of(settings).incident_bucket, incident_id, len(storm))

    assert state.member_count == state.firing_count == len(storm)


async def test_without_its_store_the_analyst_passes_alerts_on_alone_marked_degraded(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = incident_settings(nats_server.url)
    await provision(js, settings)
    storm = node_storm(4)
    bucket = IncidentSettings.of(settings).incident_bucket
    async with running_stage(SPEC, settings):
        await js.delete_key_value(bucket)
        await js.delete_stream(f"{bucket}-log")
        await publish(js, storm)
        analyzed = await read_subject(
            js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(storm), timeout=15
        )

    assert {message.id for message in analyzed} == {message.id for message in storm}
    for message in analyzed:
        assert message.incident is None
        assert message.analysis.degraded
        assert "incident store unavailable" in message.analysis.degraded_reason


async def _counted(js: JetStreamContext, bucket: str, incident_id: str, members: int) -> IncidentState:
    """The incident's state as a replica started now reads it from the log, once ``members`` are
    counted (or as it stands after 20 s)."""
    journal = await Journal.open(js, bucket, NatsSettings(), timedelta(hours=1))
    state: IncidentState | None = None
    try:
        await asyncio.wait_for(journal.until_ready(), 30)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                while (state := journal.state(incident_id)) is None or state.member_count < members:
                    await journal.moved()
    finally:
        await journal.close()
    assert state is not None
    return state


async def _first_batch_placed(js: JetStreamContext, bucket: str) -> None:
    async with asyncio.timeout(20):
        while True:
            with contextlib.suppress(Exception):
                if (await js.stream_info(f"{bucket}-log")).state.messages:
                    return
            await asyncio.sleep(0.01)


async def _log_accounted(
    js: JetStreamContext, bucket: str, ports: list[int]
) -> tuple[int, list[int], list[int]]:
    """The entries in the log, and each replica's ``aiops_incident_log_writes_total`` and
    ``..._reads_total``, once the writes add up to the entries and each replica has read the others'
    (the reviews may still be appending); as they are after 20 s if that never happens."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        written = [int(await _metric(port, "aiops_incident_log_writes_total")) for port in ports]
        read = [int(await _metric(port, "aiops_incident_log_reads_total")) for port in ports]
        entries = (await js.stream_info(f"{bucket}-log")).state.messages
        others_read = all(r >= entries - w for w, r in zip(written, read, strict=True))
        if (sum(written) == entries and others_read) or asyncio.get_running_loop().time() > deadline:
            return entries, written, read
        await asyncio.sleep(0.05)


async def _metric(port: int, name: str, **labels: str) -> float:
    return await metric_at(f"http://127.0.0.1:{port}", name, **labels)


async def test_with_an_llm_a_storm_costs_one_llm_call_and_its_alerts_are_explained_by_rules(
    nats_server: NatsServer, js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    settings = incident_settings(
        nats_server.url, llm_api_key="sk-test-not-a-secret", llm_base_url=fake_llm.url, llm_timeout=5
    )
    await provision(js, settings)
    storm = node_storm(40)
    async with running_stage(SPEC, settings):
        await publish(js, storm)
        analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(storm))
        (opened,) = await read_subject(
            js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=1, timeout=20
        )
        await caught_up(js, "incidents")

    assert {message.analysis.analyzer for message in analyzed} == {"rules"}
    assert opened.incident.analysis is not None
    assert opened.incident.analysis.analyzer == "llm"
    assert opened.incident.llm_calls == 1
    assert fake_llm.calls == 1
