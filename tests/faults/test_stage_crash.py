"""kill -9 of each stage in the middle of a run: after a restart nothing is lost, nothing doubled.

What no sender can close alone: a notifier killed after a destination accepted a post but before
the delivery was recorded posts it again on redelivery; HTTP has no way to ask "do you already
have this?". Those re-posts carry the first post's ``Idempotency-Key``, so the receiver (this
sink, like any receiver following the IETF draft) answers them from its record and acts on each
alert once. They are counted, bounded by the notifier's in-flight limit, and must be zero for a
graceful restart (SIGTERM) and for the other stages' kills.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import schemas
from tests.faults._pipeline import Pipeline
from tests.faults._sink import Sink
from tests.faults._tally import jetstream, safely, tally, wait_delivered, wait_until, where_things_stand
from tests.faults._traffic import AlertmanagerClient, webhooks
from tests.support.nats_server import NatsServer
from tests.support.stream import subject_count

pytestmark = pytest.mark.faults

ALERTS = int(os.environ.get("FAULTS_CRASH_ALERTS", "5000"))
NOTIFIER_IN_FLIGHT = 64


async def kill_and_restart(
    pipeline: Pipeline,
    stage: str,
    progress: Callable[[], Awaitable[int]],
    at: int,
    stands: Callable[[], Awaitable[str]],
) -> float:
    """SIGKILL ``stage`` once its output passed ``at``; returns seconds until its output moves again.
    ``stands``: where the consumers and the sink stand, said when the output does not move again."""
    await wait_until(lambda: _reached(progress, at), 120, f"{stage} output at {at}")
    killed = time.monotonic()
    pipeline[stage].kill()
    frozen = await progress()
    await pipeline.restart(pipeline[stage])
    try:
        await wait_until(lambda: _reached(progress, frozen + 1), 60, f"{stage} output after restart")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}, still at {frozen}: {await stands()}") from None
    return time.monotonic() - killed


async def _reached(progress: Callable[[], Awaitable[int]], at: int) -> bool:
    return await progress() >= at


@pytest.mark.timeout(240)
async def test_kill_9_of_each_stage_mid_run_loses_and_doubles_nothing(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    env = {"GENERIC_WEBHOOK_URL": sink.url, "MAX_IN_FLIGHT": str(NOTIFIER_IN_FLIGHT)}
    async with (
        Pipeline(nats_server.url, tmp_path, env) as pipeline,
        AlertmanagerClient(pipeline.ingest_urls) as am,
        jetstream(nats_server.url) as js,
    ):
        sending = asyncio.create_task(am.send_all(webhooks("crash", ALERTS)))

        async def enriched() -> int:
            return await safely(lambda: subject_count(js, schemas.ENRICHED))

        async def analysed() -> int:
            return await safely(lambda: subject_count(js, schemas.ANALYZED))

        async def notified() -> int:
            return sink.delivered()

        async def stands() -> str:
            sent = "all sent" if sending.done() else "still sending"
            consumers = await where_things_stand(js, sink, am.accepted_ids)
            return f"{len(am.accepted_ids)} accepted, {sent}; {consumers}"

        recovery = {
            "enricher": await kill_and_restart(pipeline, "enricher", enriched, ALERTS // 5, stands),
            "analyst": await kill_and_restart(pipeline, "analyst", analysed, ALERTS * 2 // 5, stands),
        }
        reposts_before_notifier_kill = sink.delivered() - len(sink.per_id())
        recovery["notifier"] = await kill_and_restart(pipeline, "notifier", notified, ALERTS * 3 // 5, stands)
        await sending
        await wait_delivered(js, sink, am.accepted_ids, within=180)
        note = "kill -9 then restart: " + ", ".join(f"{s} {t:.1f} s" for s, t in recovery.items())
        recover = max(recovery.values())
        row = await tally(
            "stage crash (kill -9 x3)", js, sink, am.accepted_ids, recover, note, reposts_expected=True
        )
    assert row.sent == ALERTS
    assert (row.analysed, row.notified, row.lost, row.duplicated) == (ALERTS, ALERTS, 0, 0), row
    assert reposts_before_notifier_kill == 0, "killing the enricher or analyst re-posted a notification"
    assert sink.reposts() <= NOTIFIER_IN_FLIGHT, "re-posts beyond what was in flight at the kill"
    assert all(p.starts == 2 for p in (pipeline[s] for s in recovery))


@pytest.mark.timeout(120)
async def test_graceful_restart_of_the_notifier_mid_run_posts_nothing_twice(
    nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    alerts = ALERTS // 5
    env = {"GENERIC_WEBHOOK_URL": sink.url}
    async with (
        Pipeline(nats_server.url, tmp_path, env) as pipeline,
        AlertmanagerClient(pipeline.ingest_urls) as am,
        jetstream(nats_server.url) as js,
    ):
        sending = asyncio.create_task(am.send_all(webhooks("rolling", alerts)))

        async def notified() -> int:
            return sink.delivered()

        await wait_until(lambda: _reached(notified, alerts // 3), 60, "a third notified")
        stopped = time.monotonic()
        await asyncio.to_thread(pipeline["notifier"].stop)
        frozen = sink.delivered()
        await pipeline.restart(pipeline["notifier"])
        await wait_until(lambda: _reached(notified, frozen + 1), 60, "notifications after restart")
        recover = time.monotonic() - stopped
        await sending
        await wait_delivered(js, sink, am.accepted_ids, within=120)
        row = await tally("notifier rolling restart (SIGTERM)", js, sink, am.accepted_ids, recover)
    assert (row.sent, row.analysed, row.notified) == (alerts, alerts, alerts)
    assert (row.lost, row.duplicated) == (0, 0), row
