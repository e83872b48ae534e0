"""The incidents' log on a server configured with a small max_payload: entries split to fit it, and an
alert whose incident alone would not fit goes on by itself without stopping the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import nats
import pytest
from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst._incidents import TOO_LARGE_REASON, Incidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.incidents._journal import entry_limit
from services.runtime import provision
from tests.conftest import SMALL_MAX_PAYLOAD
from tests.integration.incidents._storm import distinct, enriched, incident_settings
from tests.support.nats_server import NatsServer

BUCKET = "test-incidents"


@dataclass
class Placing:
    js: JetStreamContext
    journal: Journal
    incidents: Incidents
    warnings: list[str]


@pytest.fixture
async def placing(small_payload_server: NatsServer) -> AsyncIterator[Placing]:
    connection = incident_settings(small_payload_server.url)
    nc = await nats.connect(small_payload_server.url)
    js = nc.jetstream()
    await provision(js, connection)
    settings = IncidentSettings.of(connection)
    store = await IncidentStore.open(js, BUCKET, connection)
    journal = await Journal.open(js, BUCKET, connection, timedelta(hours=1))
    await asyncio.wait_for(journal.until_ready(), 30)
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        yield Placing(js, journal, Incidents(journal, store, Correlator(settings), settings), warnings)
    finally:
        logger.remove(sink)
        await journal.close()
        await nc.close()


async def test_a_flood_is_written_in_entries_the_server_takes(placing: Placing) -> None:
    # 300 alerts of one cluster, each its own incident: one entry of about 500 kB on a default server.
    flood = distinct(300)
    await placing.incidents.prepare(flood)
    log = await placing.js.stream_info(placing.journal.stream)
    sizes = [
        len((await placing.js.get_msg(placing.journal.stream, seq)).data or b"")
        for seq in range(log.state.first_seq, log.state.last_seq + 1)
    ]

    placed = [placing.incidents.take(message) for message in flood]
    assert placing.warnings == []
    assert all(p.ref is not None and not p.degraded for p in placed)
    assert len({p.ref.id for p in placed if p.ref is not None}) == 300
    assert len(sizes) > 1
    assert max(sizes) <= entry_limit(SMALL_MAX_PAYLOAD)


def pod_down(node: str, n: int, starts: datetime) -> schemas.EnrichedAlert:
    """A pod of the node not ready, with a long summary, as some rules write them."""
    message = enriched("KubePodNotReady", starts, namespace="shop", pod=f"{node}-web-{n}", node=node)
    summary = f"Pod shop/{node}-web-{n} on {node} is not ready. " + "Runbook step. " * 400
    alert = msgspec.structs.replace(message.alert, annotations={"summary": summary})
    return msgspec.structs.replace(message, id=schemas.alert_id(alert), alert=alert)


async def test_an_alert_whose_incident_would_not_fit_goes_on_alone_and_the_store_goes_on(
    placing: Placing,
) -> None:
    starts = datetime.now(UTC)
    storm = [enriched("KubeNodeNotReady", starts, node="ip-10-0-1-7", severity="critical")]
    storm += [pod_down("ip-10-0-1-7", n, starts) for n in range(12)]
    placed = []
    for message in storm:  # one by one, as a slow storm arrives: the incident's state grows each time
        await placing.incidents.prepare([message])
        placed.append(placing.incidents.take(message))
    other = distinct(1, cluster="east")[0]
    await placing.incidents.prepare([other])
    placed_other = placing.incidents.take(other)

    grouped = [p for p in placed if p.ref is not None]
    alone = [p for p in placed if p.ref is None]
    # The first members fit and share the node's incident; once the state would be over the server's
    # limit, each further member goes on by itself, saying why.
    assert len(grouped) >= 2
    assert len({p.ref.id for p in grouped if p.ref is not None}) == 1
    assert alone
    assert all(p.degraded == TOO_LARGE_REASON for p in alone)
    assert placed.index(alone[0]) == len(grouped)  # the ones that fit came first
    # The store answered all along: not paused, and the next incident is placed as usual.
    assert placing.incidents.paused_until is None
    assert not any("incident store failed" in w for w in placing.warnings)
    said = [w for w in placing.warnings if "1 of the batch's 1 alerts go on by themselves" in w]
    assert len(said) == len(alone)
    assert "max_payload" in said[0]
    assert placed_other.ref is not None
    assert not placed_other.degraded
