"""``aiops status``'s answer time against the four services as processes, idle and while they work.

The baseline is ``aiops --help`` measured in the same rounds: the interpreter and the CLI's imports,
which every ``aiops`` command pays. The floor is a ratio, as every floor here: the whole ``status`` command
(connecting, two snapshots 0.3 s apart, rendering) takes at most 3x ``aiops --help``, median of paired
rounds. The absolute figures are printed for docs/benchmarks.md (the issue's goal is 1 s).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import aiohttp
import nats
import orjson

from bench._report import heading, median, row
from bench.pipeline import Pipeline
from tests.support.nats_server import NatsServer

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
FLOOR_RATIO = 3.0


async def _timed(env: dict[str, str], *args: str) -> tuple[float, bytes, int]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    return time.perf_counter() - started, stdout, process.returncode or 0


async def _rounds(env: dict[str, str]) -> tuple[list[float], list[float], list[float], list[float]]:
    extra, walls, took, ratios = [], [], [], []
    for _ in range(ROUNDS):
        baseline, _, _ = await _timed(env, "--help")
        wall, stdout, code = await _timed(env, "status", "--json")
        report = orjson.loads(stdout)
        assert code == 0, report["problems"]
        walls.append(wall)
        extra.append(wall - baseline)
        took.append(report["took_ms"])
        ratios.append(wall / baseline)
    return extra, walls, took, ratios


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
            idle = await _rounds(env)
            flood = asyncio.create_task(pipeline.flood(http, js, 20000, "status-busy"))
            busy = await _rounds(env)
            flood.cancel()
            await nc.close()
    finally:
        pipeline.stop()
        server.close()
    heading(f"aiops status: answer time ({ROUNDS} rounds each; baseline `aiops --help` in the same rounds)")
    for name, (extra, walls, took, ratios) in (("idle", idle), ("busy (a flood posted)", busy)):
        row(f"{name}: status beyond the CLI's start-up", f"{median(extra):.2f} s")
        row(f"{name}: whole command (wall)", f"{median(walls):.2f} s")
        row(f"{name}: one snapshot (took_ms)", f"{median(took):.0f} ms")
        row(f"{name}: whole command / aiops --help", f"{median(ratios):.2f}x", f"floor <= {FLOOR_RATIO:g}x")
    worst = max(median(idle[3]), median(busy[3]))
    return 0 if worst <= FLOOR_RATIO else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
