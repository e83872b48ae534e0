"""A three-node cluster, the stream at three replicas: kill the stream leader mid-run, lose nothing."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

import schemas
from tests.faults._pipeline import Pipeline
from tests.faults._sink import Sink
from tests.faults._tally import (
    jetstream,
    safely,
    tally,
    wait_delivered,
    wait_until,
    where_things_stand,
)
from tests.faults._traffic import AlertmanagerClient, webhooks
from tests.support.nats_cluster import NatsCluster
from tests.support.stream import subject_count

pytestmark = pytest.mark.faults

ALERTS = int(os.environ.get("FAULTS_CLUSTER_ALERTS", "2000"))
WEBHOOKS_PER_SECOND = 20.0
KV_BUCKETS = ("aiops-deliveries", "aiops-analyses")
_WARNING = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path)
    nodes.start()
    try:
        await nodes.wait_for_meta_leader()
        yield nodes
    finally:
        nodes.close()


async def placement(js: JetStreamContext, stream: str) -> tuple[int, str]:
    info = await js.stream_info(stream)
    assert info.cluster is not None
    return info.config.num_replicas or 1, info.cluster.leader or "?"


# Each wait below has its own budget, all of them well inside the test's: a stall fails with what stalled.
@pytest.mark.timeout(360)
async def test_killing_the_stream_leader_mid_run_loses_nothing(
    cluster: NatsCluster, sink: Sink, tmp_path: Path
) -> None:
    env = {"GENERIC_WEBHOOK_URL": sink.url, "STREAM_REPLICAS": "3"}
    async with (
        Pipeline(cluster.url, tmp_path, env) as pipeline,
        AlertmanagerClient(pipeline.ingest_urls) as am,
        jetstream(cluster.url) as js,
    ):
        sending = asyncio.create_task(
            am.send_all(webhooks("cluster", ALERTS), per_second=WEBHOOKS_PER_SECOND)
        )
        try:
            leader, new_leader, recover, buckets = await _kill_the_leader_mid_run(
                js, sink, am, cluster, sending
            )
        except (TimeoutError, AssertionError) as failure:
            sending.cancel()
            state = await where_things_stand(js, sink, am.accepted_ids)
            complaints = [line for line in pipeline.logs().splitlines() if _WARNING.search(line)]
            raise AssertionError(
                f"{failure}\n{state}\ningest answered: {dict(am.statuses)}\n" + "\n".join(complaints[-40:])
            ) from failure
        kv = ", ".join(f"{name} R{r} on {where}" for name, (r, where) in buckets.items())
        note = f"stream leader {leader} killed, {new_leader} took over; {kv}"
        row = await tally("cluster: stream leader killed", js, sink, am.accepted_ids, recover, note)
    assert new_leader != leader
    assert (row.sent, row.analysed, row.notified) == (ALERTS, ALERTS, ALERTS)
    assert (row.lost, row.duplicated) == (0, 0), row


async def _kill_the_leader_mid_run(
    js: JetStreamContext,
    sink: Sink,
    am: AlertmanagerClient,
    cluster: NatsCluster,
    sending: asyncio.Task[None],
) -> tuple[str, str, float, dict[str, tuple[int, str]]]:
    """Kill the stream's leader once a quarter is analysed; wait until every alert is delivered."""

    async def analysed() -> int:
        return await safely(lambda: subject_count(js, schemas.ANALYZED))

    await wait_until(lambda: _at_least(analysed, ALERTS // 4), 60, "a quarter analysed")
    replicas, leader = await placement(js, schemas.STREAM)
    assert replicas == 3
    # The analyst keeps its episode cache only when an LLM answers; the notifier always has its ledger.
    names = [name for name in KV_BUCKETS if await _exists(js, f"KV_{name}")]
    buckets = {name: await placement(js, f"KV_{name}") for name in names}
    # A bucket on one node would stall the notifier (and the LLM analyst) when that node dies.
    assert all(r == 3 for r, _ in buckets.values()), f"key-value buckets not replicated: {buckets}"
    killed = time.monotonic()
    cluster.kill(leader)
    frozen = await analysed()
    await wait_until(lambda: _at_least(analysed, frozen + 1), 60, "analyses after the leader died")
    recover = time.monotonic() - killed
    try:
        await asyncio.wait_for(sending, 90)
    except TimeoutError:
        raise TimeoutError("every webhook accepted by ingest: not within 90 s") from None
    await wait_delivered(js, sink, am.accepted_ids, within=90)
    _, new_leader = await placement(js, schemas.STREAM)
    return leader, new_leader, recover, buckets


async def _exists(js: JetStreamContext, stream: str) -> bool:
    try:
        await js.stream_info(stream)
    except NotFoundError:
        return False
    return True


async def _at_least(count: object, target: int) -> bool:
    return await count() >= target  # type: ignore[operator,no-any-return]
