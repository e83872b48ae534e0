"""Ingest started beside a cluster that cannot hold its stream yet waits for it instead of exiting.

Every node of a cluster may start at once (a Kubernetes rollout, `docker compose up`): until the leader
has heard from enough nodes, creating a stream of three replicas answers "no suitable peers for
placement". The stages waited that out; ingest exited on it, so the webhook was down until its
supervisor restarted it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
from loguru import logger

import schemas
from services.ingest import IngestSettings
from services.ingest._serve import serve_ingest
from services.runtime._errors import Stopped
from tests.support.nats_cluster import NatsCluster
from tests.support.services import settings_for
from tests.support.webhooks import webhook


@dataclass
class Waiting:
    cluster: NatsCluster
    serving: asyncio.Task[None]
    stop: asyncio.Event
    started: asyncio.Future[int]


@contextlib.asynccontextmanager
async def ingest_waiting_for_its_stream(tmp_path: Path) -> AsyncIterator[Waiting]:
    """Ingest asking two nodes of three for a stream of three replicas, once it said it waits."""
    cluster = NatsCluster(tmp_path)
    cluster.start("a")
    cluster.start("b")  # a leader, but no third node for the stream's third replica
    retrying = asyncio.Event()

    def watch(message: object) -> None:
        if "cannot set up the stream yet" in str(message):
            retrying.set()

    sink = logger.add(watch, level="INFO")
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    settings = settings_for(IngestSettings, cluster.url, stream_replicas=3)
    serving = asyncio.create_task(serve_ingest(settings, stop=stop, started=started))
    try:
        await cluster.wait_for_meta_leader()
        waiting = asyncio.create_task(retrying.wait())
        done, _ = await asyncio.wait({serving, waiting}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert serving not in done, f"ingest exited: {serving.exception()!r}"
        assert waiting in done, "ingest neither exited nor said it waits for the stream within 20 s"
        yield Waiting(cluster, serving, stop, started)
    finally:
        stop.set()
        logger.remove(sink)
        _, still = await asyncio.wait({serving}, timeout=30)
        for task in still:  # never left running into the next test
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        cluster.close()


async def test_ingest_waits_for_the_cluster_to_place_its_stream_then_takes_webhooks(tmp_path: Path) -> None:
    async with ingest_waiting_for_its_stream(tmp_path) as waiting:
        waiting.cluster.start("c")
        either: set[asyncio.Future[Any]] = {waiting.serving, waiting.started}
        done, _ = await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        assert waiting.started in done, (
            f"ingest exited: {waiting.serving.exception()!r}" if waiting.serving.done() else "not up in 60 s"
        )
        port = waiting.started.result()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/webhook/alertmanager"
            body, json = webhook("cluster", 0, count=2), {"Content-Type": "application/json"}
            async with http.post(url, data=body, headers=json) as response:
                assert response.status == 200, await response.text()
        nc = await nats.connect(servers=waiting.cluster.url.split(","))
        try:
            info = await nc.jetstream().stream_info(schemas.STREAM)
        finally:
            await nc.close()
    assert info.config.num_replicas == 3
    assert info.state.messages == 2


async def test_ingest_stopped_while_it_waits_for_the_cluster_stops_at_once(tmp_path: Path) -> None:
    async with ingest_waiting_for_its_stream(tmp_path) as waiting:
        waiting.stop.set()  # SIGTERM: a rollout given up, or the node drained
        # Not after half a minute of asking: the request in flight is given up too.
        done, _ = await asyncio.wait({waiting.serving}, timeout=10)
        assert waiting.serving in done, "ingest kept waiting for the stream after it was stopped"
        assert isinstance(waiting.serving.exception(), Stopped)  # a clean exit: run_service logs it
