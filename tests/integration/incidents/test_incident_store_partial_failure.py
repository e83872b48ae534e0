"""One shard of a batch failing on a real server: the other shards' alerts keep their incidents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import nats
import pytest
from loguru import logger
from nats.js import JetStreamContext

from services.analyst._incidents import DEGRADED_REASON, Incidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.runtime import provision
from tests.integration.incidents._storm import distinct, incident_settings
from tests.support.nats_server import NatsServer

BUCKET = "test-incidents"
# The analyst's user may write every subject but the log of cluster "west": that shard's entry is
# never acknowledged, as when its stream's leader is lost, while cluster "east" writes as usual.
CONFIG = """
authorization {
  users = [
    {
      user: analyst, password: "not-a-real-secret",
      permissions: { publish: { allow: [">"], deny: ["BUCKET.log.west"] }, subscribe: { allow: [">"] } }
    }
  ]
}
""".replace("BUCKET", BUCKET)


@pytest.fixture
def west_denied(tmp_path: Path) -> Iterator[NatsServer]:
    config = tmp_path / "nats.conf"
    config.write_text(CONFIG)
    server = NatsServer(extra_args=["-c", str(config)]).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def js(west_denied: NatsServer) -> AsyncIterator[JetStreamContext]:
    async def quiet(error: Exception) -> None:
        """The denied publishes come back as errors that do not close the connection: expected here."""

    nc = await nats.connect(analyst_url(west_denied), error_cb=quiet)
    js = nc.jetstream()
    await provision(js, incident_settings(analyst_url(west_denied)))
    yield js
    await nc.close()


def analyst_url(server: NatsServer) -> str:
    return f"nats://analyst:not-a-real-secret@127.0.0.1:{server.port}"


async def test_a_shard_whose_entry_is_never_written_degrades_its_alerts_alone(
    js: JetStreamContext, west_denied: NatsServer
) -> None:
    connection = incident_settings(analyst_url(west_denied), incident_store_timeout_seconds=3.0)
    settings = IncidentSettings.of(connection)
    store = await IncidentStore.open(js, BUCKET, connection)
    journal = await Journal.open(js, BUCKET, connection, timedelta(hours=1))
    await asyncio.wait_for(journal.until_ready(), 30)
    incidents = Incidents(journal, store, Correlator(settings), settings)
    east, west = distinct(3, cluster="east"), distinct(3, cluster="west")
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        await incidents.prepare([*east, *west])
    finally:
        logger.remove(sink)
        await journal.close()

    placed_east = [incidents.take(message) for message in east]
    placed_west = [incidents.take(message) for message in west]
    # East's entry was written: its alerts are announced in their incidents, not also one by one.
    assert all(p.ref is not None and not p.degraded for p in placed_east)
    assert all(journal.state(p.ref.id) is not None for p in placed_east if p.ref is not None)
    assert (await js.stream_info(journal.stream)).state.messages == 1
    # West's never was: its alerts go on alone, marked.
    assert all(p.ref is None and p.degraded == DEGRADED_REASON for p in placed_west)
    (warning,) = [w for w in warnings if "incident store failed" in w]
    assert "not written within 3.0s" in warning
    assert "3 of the batch's 6 alerts go on one by one" in warning
