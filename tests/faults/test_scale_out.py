"""Two replicas of every service on the same durable consumers split the work, none done twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults._pipeline import STAGES, Pipeline
from tests.faults._sink import Sink
from tests.faults._tally import jetstream, tally, wait_delivered
from tests.faults._traffic import AlertmanagerClient, webhooks
from tests.support.nats_server import NatsServer

pytestmark = pytest.mark.faults

ALERTS = int(os.environ.get("FAULTS_SCALE_ALERTS", "2000"))


@pytest.mark.timeout(180)
async def test_two_replicas_per_stage_split_the_work_and_finish_each_alert_once(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    env = {"GENERIC_WEBHOOK_URL": sink.url}
    async with (
        Pipeline(nats_server.url, tmp_path, env, replicas=2) as pipeline,
        jetstream(nats_server.url) as js,
    ):
        async with AlertmanagerClient(pipeline.ingest_urls) as am:
            await am.send_all(webhooks("scale", ALERTS), concurrency=8)
        await wait_delivered(js, sink, am.accepted_ids, within=120)
        done = {
            p.name: await p.metric("aiops_messages_total", stage=stage, outcome="ok")
            for stage in STAGES
            for p in pipeline.stages[stage]
        }
        split = ", ".join(f"{name} {int(n)}" for name, n in done.items())
        row = await tally("scale-out (2 replicas each)", js, sink, am.accepted_ids, None, f"handled: {split}")
    assert (row.sent, row.analysed, row.notified) == (ALERTS, ALERTS, ALERTS)
    assert (row.lost, row.duplicated) == (0, 0), row
    for stage in STAGES:
        counts = [done[p.name] for p in pipeline.stages[stage]]
        assert all(n > 0 for n in counts), f"a {stage} replica did no work: {counts}"
        # Each message acked exactly once across the replicas: nothing handled twice to completion.
        assert sum(counts) == ALERTS, f"{stage}: {counts}"
