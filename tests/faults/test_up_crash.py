"""kill -9 under ``aiops up``: the supervisor starts the process again and nothing is lost or doubled.

``test_stage_crash`` restarts a killed stage by hand, as systemd or Kubernetes would; here nobody
does: ``aiops up`` sees the exit and starts it again, while the other services keep running (its
backoff spaces starts, 1 s then 2 s within a minute: a process that ran longer is started at once).
Each stage is killed twice, at 15% and 45% of its own output; nats-server is killed once, its store
kept on disk, and every service reconnects by itself. Restart is the time from the kill to the
supervisor's ``started`` line; recover adds the new process's start-up until output moves again.

``FAULTS_UP_ALERTS`` scales the runs (20,000 for the issue's figure; the default keeps ``just test``
short).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest

import schemas
from tests.faults._pipeline import FAST_STAGE_ENV
from tests.faults._sink import Sink
from tests.faults._tally import jetstream, safely, tally, wait_delivered, wait_until
from tests.faults._traffic import AlertmanagerClient, webhooks
from tests.faults._up import STAGES, Up, up_env
from tests.support.nats_server import NatsServer
from tests.support.processes import wait_ready
from tests.support.stream import subject_count
from tests.support.webhooks import webhook

pytestmark = pytest.mark.faults

ALERTS = int(os.environ.get("FAULTS_UP_ALERTS", "2000"))
KILLS_AT = (0.15, 0.45)
NOTIFIER_IN_FLIGHT = 64
# Long enough for the largest run on a slow, shared machine; a stuck run still fails.
WITHIN = max(120.0, ALERTS / 20)

Progress = Callable[[], Awaitable[int]]


class Kill(NamedTuple):
    """Seconds from a kill -9 until the supervisor started the process again, until the new process
    was ready, and until output moved again."""

    restart: float
    ready: float
    recover: float
    at: float  # when the kill was sent (monotonic)

    def __str__(self) -> str:
        return f"{self.restart:.2f} s / {self.ready:.1f} s / {self.recover:.1f} s"


async def kill_under_up(
    up: Up, name: str, progress: Progress, at: int, ready: Callable[[], Awaitable[object]]
) -> Kill:
    """SIGKILL ``name`` once ``progress`` reached ``at``; times its way back."""
    await wait_until(lambda: _reached(progress, at), WITHIN, f"{name} output at {at}")
    starts = [n for n, _ in up.started()].count(name)
    os.kill(up.pid(name), signal.SIGKILL)
    killed = time.monotonic()
    frozen = await progress()
    started = await up.wait_timed(rf"aiops: started {name} \(pid \d+\)", 30, count=starts + 1)
    await ready()
    is_ready = time.monotonic() - killed
    await wait_until(lambda: _reached(progress, frozen + 1), 60, f"{name} output after restart")
    return Kill(started[-1][0] - killed, is_ready, time.monotonic() - killed, killed)


async def _reached(progress: Progress, at: int) -> bool:
    return await progress() >= at


async def _nats_ready(monitor_port: int) -> bool:
    url = f"http://127.0.0.1:{monitor_port}/healthz?js-enabled-only=true"
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def _extra_starts(up: Up, killed: str, kills: int) -> dict[str, int]:
    """Services started more often than the kills explain (none should be)."""
    counts = {name: [n for n, _ in up.started()].count(name) for name in ("ingest", *STAGES)}
    expected = {name: 1 + (kills if name == killed else 0) for name in counts}
    return {name: n for name, n in counts.items() if n != expected[name]}


@pytest.mark.timeout(int(WITHIN * 4))
@pytest.mark.parametrize("stage", STAGES)
async def test_a_stage_killed_twice_under_up_is_restarted_and_loses_and_doubles_nothing(
    stage: str, nats_server: NatsServer, sink: Sink, tmp_path: Path
) -> None:
    nats_server_url = nats_server.url
    env, ports = up_env(
        nats_server_url, **FAST_STAGE_ENV, GENERIC_WEBHOOK_URL=sink.url, MAX_IN_FLIGHT=str(NOTIFIER_IN_FLIGHT)
    )
    async with (
        Up(env, tmp_path) as up,
        AlertmanagerClient([f"http://127.0.0.1:{ports['ingest']}"]) as am,
        jetstream(nats_server_url) as js,
    ):
        await up.wait_for("pipeline up:", 60)
        for name in STAGES:
            await wait_ready(f"http://127.0.0.1:{ports[name]}", 60, name, log=up.output)
        sending = asyncio.create_task(am.send_all(webhooks(f"up-{stage}", ALERTS)))

        async def output() -> int:
            if stage == "notifier":
                return sink.delivered()
            subject = schemas.ENRICHED if stage == "enricher" else schemas.ANALYZED
            return await safely(lambda: subject_count(js, subject))

        health = f"http://127.0.0.1:{ports[stage]}"

        def ready() -> Awaitable[float]:
            return wait_ready(health, 60, stage, log=up.output)

        kills: list[Kill] = []
        for at in KILLS_AT:
            kills.append(await kill_under_up(up, stage, output, int(ALERTS * at), ready))
        await sending
        await wait_delivered(js, sink, am.accepted_ids, within=WITHIN)
        # A kill can only cost the posts it interrupted; other repeats (a post answered after the
        # notifier's timeout, on a loaded machine) are counted apart.
        reposts = sink.reposts_per_kill([kill.at for kill in kills])
        note = "restart / ready / output again after each kill: " + ", ".join(map(str, kills))
        if stage == "notifier":
            note += f"; re-posts per kill {reposts}, {sink.reposts() - sum(reposts)} others (notify timeouts)"
        row = await tally(
            f"aiops up: {stage} kill -9 at 15% and 45%", js, sink, am.accepted_ids,
            max(k.recover for k in kills), note, reposts_expected=stage == "notifier",
        )  # fmt: skip
        restarts = re.findall(rf"aiops: {stage} exited with code -9; restart (\d+) in", up.output())
        assert restarts == ["1", "2"], up.output()[-3000:]
        assert not _extra_starts(up, stage, len(KILLS_AT)), up.output()[-3000:]
    assert row.sent == ALERTS
    assert (row.analysed, row.notified, row.lost, row.duplicated) == (ALERTS, ALERTS, 0, 0), row
    assert all(n <= NOTIFIER_IN_FLIGHT for n in reposts), f"re-posts beyond what was in flight: {reposts}"


@pytest.mark.timeout(int(WITHIN * 3))
async def test_nats_server_killed_under_up_is_restarted_and_the_services_carry_on(
    sink: Sink, tmp_path: Path
) -> None:
    alerts = max(ALERTS // 4, 500)
    env, ports = up_env(
        None, **FAST_STAGE_ENV, GENERIC_WEBHOOK_URL=sink.url, MAX_IN_FLIGHT=str(NOTIFIER_IN_FLIGHT)
    )
    nats_url = f"nats://127.0.0.1:{ports['nats']}"
    async with Up(env, tmp_path) as up:
        await up.wait_for("pipeline up:", 60)
        for name in STAGES:
            await wait_ready(f"http://127.0.0.1:{ports[name]}", 60, name, log=up.output)
        async with (
            AlertmanagerClient([f"http://127.0.0.1:{ports['ingest']}"]) as am,
            jetstream(nats_url) as js,
        ):
            # Spread over several seconds, so the crash falls in the middle of the traffic.
            sending = asyncio.create_task(am.send_all(webhooks("up-nats", alerts), per_second=20))

            async def notified() -> int:
                return sink.delivered()

            def ready() -> Awaitable[float]:
                return wait_until(lambda: _nats_ready(ports["nats_monitor"]), 30, "nats-server ready")

            kill = await kill_under_up(up, "nats", notified, alerts // 4, ready)
            await am.send(webhook("up-nats-probe", 0, 1))
            await sending
            await wait_delivered(js, sink, am.accepted_ids, within=WITHIN)
            refused = am.statuses["503"] + sum(n for k, n in am.statuses.items() if not k.isdigit())
            note = f"restart / ready / output again: {kill}; {refused} posts answered 503 or refused"
            row = await tally(
                "aiops up: nats-server kill -9", js, sink, am.accepted_ids, kill.recover, note,
                reposts_expected=True,
            )  # fmt: skip
        assert "aiops: nats exited with code -9; restart 1 in 0.0 s" in up.output()
        assert not _extra_starts(up, "nats", 1), "a service was restarted instead of reconnecting"
    assert row.sent == alerts + 1
    assert (row.analysed, row.notified, row.lost, row.duplicated) == (row.sent, row.sent, 0, 0), row
    assert sink.reposts() <= NOTIFIER_IN_FLIGHT, "re-posts beyond what was in flight at the kill"
