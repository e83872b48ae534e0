"""nats-server killed and restarted mid-run: ingest answers 503 meanwhile, nothing is lost.

A SIGKILL can take with it what nats-server had confirmed but not yet written out: the last acks
of the notifier's consumer and the last delivery records of its ledger (both are written to disk
asynchronously). Those messages come back and are posted again, with the first post's
Idempotency-Key, which the receiver honours; as for a notifier killed with -9, they are reported
apart and bounded by what the notifier had in flight, never delivered twice to the receiver.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.faults._pipeline import Pipeline
from tests.faults._sink import Sink
from tests.faults._tally import jetstream, tally, wait_delivered, wait_until
from tests.faults._traffic import AlertmanagerClient, webhooks
from tests.support.nats_server import NatsServer
from tests.support.webhooks import webhook

pytestmark = pytest.mark.faults

ALERTS = int(os.environ.get("FAULTS_BROKER_ALERTS", "2000"))
DOWN_SECONDS = float(os.environ.get("FAULTS_BROKER_DOWN_SECONDS", "3"))
WEBHOOKS_PER_SECOND = 20.0
NOTIFIER_IN_FLIGHT = 64


@pytest.mark.timeout(180)
async def test_broker_restart_mid_run_loses_nothing_and_needs_no_manual_step(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    env = {"GENERIC_WEBHOOK_URL": sink.url, "MAX_IN_FLIGHT": str(NOTIFIER_IN_FLIGHT)}
    async with (
        Pipeline(nats_server.url, tmp_path, env) as pipeline,
        AlertmanagerClient(pipeline.ingest_urls) as am,
        jetstream(nats_server.url) as js,
    ):
        # Spread over several seconds, so the outage falls in the middle of the traffic.
        sending = asyncio.create_task(am.send_all(webhooks("broker", ALERTS), per_second=WEBHOOKS_PER_SECOND))
        await wait_until(lambda: _delivered(sink, ALERTS // 4), 60, "a quarter delivered")

        nats_server.kill()
        status, answer = await am.post_once(webhook("broker-probe", 0, 1))
        assert status == 503, answer
        assert "error" in answer
        await asyncio.sleep(DOWN_SECONDS)  # the outage itself, not synchronisation
        await asyncio.to_thread(nats_server.start)
        back = time.monotonic()
        await sink.next_delivery(within=60)
        recover = time.monotonic() - back

        await am.send(webhook("broker-probe", 0, 1))
        await sending
        await wait_delivered(js, sink, am.accepted_ids, within=120)
        refused = am.statuses["503"] + sum(n for k, n in am.statuses.items() if not k.isdigit())
        note = f"nats-server down {DOWN_SECONDS:g} s; {refused} posts answered 503 or refused, then retried"
        row = await tally("broker restart", js, sink, am.accepted_ids, recover, note, reposts_expected=True)
        assert all(p.alive() and p.starts == 1 for p in pipeline.processes), "a service needed a restart"
    assert row.sent == ALERTS + 1
    assert (row.analysed, row.notified) == (row.sent, row.sent)
    assert (row.lost, row.duplicated) == (0, 0), row
    assert sink.reposts() <= NOTIFIER_IN_FLIGHT, "re-posts beyond what was in flight at the kill"


async def _delivered(sink: Sink, count: int) -> bool:
    return sink.delivered() >= count
