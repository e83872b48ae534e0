"""The incidents' log on a server configured with a small max_payload: entries split to fit it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import nats
from loguru import logger

from services.analyst._incidents import Incidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.runtime import provision
from tests.conftest import SMALL_MAX_PAYLOAD
from tests.integration.incidents._storm import distinct, incident_settings
from tests.support.nats_server import NatsServer

BUCKET = "test-incidents"


async def test_a_flood_is_written_in_entries_the_server_takes(small_payload_server: NatsServer) -> None:
    connection = incident_settings(small_payload_server.url)
    nc = await nats.connect(small_payload_server.url)
    js = nc.jetstream()
    await provision(js, connection)
    settings = IncidentSettings.of(connection)
    store = await IncidentStore.open(js, BUCKET, connection)
    journal = await Journal.open(js, BUCKET, connection, timedelta(hours=1))
    await asyncio.wait_for(journal.until_ready(), 30)
    incidents = Incidents(journal, store, Correlator(settings), settings)
    # 300 alerts of one cluster, each its own incident: one entry of about 500 kB on a default server.
    flood = distinct(300)
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        await incidents.prepare(flood)
        log = await js.stream_info(journal.stream)
    finally:
        logger.remove(sink)
        await journal.close()
        await nc.close()

    placed = [incidents.take(message) for message in flood]
    assert warnings == []
    assert all(p.ref is not None and not p.degraded for p in placed)
    assert len({p.ref.id for p in placed if p.ref is not None}) == 300
    assert log.state.messages > 1
    assert log.state.bytes / log.state.messages < SMALL_MAX_PAYLOAD
