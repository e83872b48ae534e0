"""``aiops status``'s answer time against the four services as processes, idle and while they work.

The baseline, measured in the same rounds, is the least a status can cost: a bare nats-py script that
starts Python, imports nats-py, connects, reads the stream's counts twice ONE_SHOT_RATE_SECONDS apart
and exits. ``aiops status`` does that and more (every service's /healthz, /readyz and /metrics, the
consumers, the budget key, the screen). The floor is a ratio, as every floor here: the whole command
(``status --json``) takes at most FLOOR_RATIO x the bare script, median of paired rounds. The absolute
figures (wall and CPU, which the machine's load changes less) are printed for docs/benchmarks.md with
the issue's goal: 1 s.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

import aiohttp
import nats
import orjson

import schemas
from bench._report import heading, median, row
from bench.pipeline import Pipeline
from services.cli._status_command import ONE_SHOT_RATE_SECONDS
from tests.support.nats_server import NatsServer

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
FLOOR_RATIO = 1.0
GOAL_SECONDS = 1.0  # issue 15
BARE = f"""
import asyncio, os, nats
async def main():
    nc = await nats.connect(os.environ["NATS_URL"])
    js = nc.jetstream()
    await js.stream_info({schemas.STREAM!r})
    await asyncio.sleep({ONE_SHOT_RATE_SECONDS})
    await js.stream_info({schemas.STREAM!r})
    await nc.close()
asyncio.run(main())
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _timed(env: dict[str, str], *args: str) -> tuple[float, float, bytes, int]:
    """Wall seconds, CPU seconds, stdout and exit code of ``python *args``."""
    cpu, started = _children_cpu(), time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    return time.perf_counter() - started, _children_cpu() - cpu, stdout, process.returncode or 0


Rounds = dict[str, list[float]]


async def _rounds(env: dict[str, str]) -> Rounds:
    figures: Rounds = {"wall": [], "cpu": [], "took": [], "bare": [], "ratio": []}
    for _ in range(ROUNDS):
        bare, _, _, _ = await _timed(env, "-c", BARE)
        wall, cpu, stdout, code = await _timed(env, "-m", "services.cli", "status", "--json")
        report = orjson.loads(stdout)
        assert code == 0, report["problems"]
        for name, value in (("wall", wall), ("cpu", cpu), ("took", report["took_ms"]), ("bare", bare)):
            figures[name].append(value)
        figures["ratio"].append(wall / bare)
    return figures


async def main() -> int:
    server = NatsServer().start()
    pipeline = Pipeline(server)
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "INGEST_PORT": str(pipeline.ports["ingest"]),
        **{
            f"{name.upper()}_HEALTH_PORT": str(pipeline.ports[name])
            for name in ("enricher", "analyst", "notifier")
        },
    }
    try:
        async with aiohttp.ClientSession() as http:
            await pipeline.ready(http)
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            await pipeline.flood(http, js, 500, "status-warm")
            load = os.getloadavg()[0]
            idle = await _rounds(env)
            flood = asyncio.create_task(pipeline.flood(http, js, 20000, "status-busy"))
            busy = await _rounds(env)
            flood.cancel()
            await nc.close()
    finally:
        pipeline.stop()
        server.close()
    heading(f"aiops status --json: answer time ({ROUNDS} rounds each, after the bare script's)")
    row("machine: load average when the rounds began", f"{load:.1f}", f"{os.cpu_count()} cores")
    for name, figures in (("idle", idle), ("busy (a flood)", busy)):
        row(
            f"{name}: whole command (wall)", f"{median(figures['wall']):.2f} s", f"goal <= {GOAL_SECONDS:g} s"
        )
        row(f"{name}: whole command (CPU)", f"{median(figures['cpu']):.2f} s")
        row(f"{name}: one full snapshot (took_ms)", f"{median(figures['took']):.0f} ms")
        row(f"{name}: bare nats-py script (wall)", f"{median(figures['bare']):.2f} s")
        row(
            f"{name}: whole command / bare script",
            f"{median(figures['ratio']):.2f}x",
            f"floor <= {FLOOR_RATIO:g}x",
        )
    worst = max(median(idle["ratio"]), median(busy["ratio"]))
    return 0 if worst <= FLOOR_RATIO else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
