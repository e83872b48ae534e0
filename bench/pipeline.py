"""End-to-end throughput and latency of the four services, against a bare relay on the same server.

``python -m bench.pipeline [N]`` (default 20,000 alerts). No Prometheus, Loki or LLM: the
enricher records them as not configured, the rules analyst answers, the notifier only logs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats
import orjson
from nats.js.api import StreamConfig

import schemas
from bench._report import cpu_seconds, heading, percentile, row, rss_mib
from services.runtime import load, stream_config
from services.runtime._settings import StageSettings
from tests.support.nats_server import NatsServer, free_port
from tests.support.processes import BASE_ENV
from tests.support.webhooks import ALERTS_PER_WEBHOOK, webhook

CONCURRENT_POSTS = 8
STEADY_RATE = 200  # alerts/s, a storm well below capacity
STEADY_SECONDS = 10


async def wait_consumed(js: Any, stream: str, consumer: str, total: int, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            info = await js.consumer_info(stream, consumer)
            idle = info.num_pending == 0 and info.num_ack_pending == 0
            if idle and info.delivered.consumer_seq >= total:
                return
            await asyncio.sleep(0.05)


async def wait_consumers(js: Any, stream: str, names: list[str]) -> None:
    """The clock starts once every hop is listening."""
    async with asyncio.timeout(60):
        for name in names:
            while True:
                try:
                    await js.consumer_info(stream, name)
                    break
                except Exception:
                    await asyncio.sleep(0.1)


async def bench_relay(server: NatsServer, n: int) -> tuple[float, list[int]]:
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    base = stream_config(load(StageSettings, {}))
    await js.add_stream(
        StreamConfig(
            name="RELAY", subjects=["relay.>"], storage=base.storage, duplicate_window=base.duplicate_window
        )
    )
    hops = [
        ("r1", "relay.raw", "relay.enriched"),
        ("r2", "relay.enriched", "relay.analyzed"),
        ("r3", "relay.analyzed"),
    ]
    procs = [subprocess.Popen([sys.executable, "-m", "bench.relay", server.url, *hop]) for hop in hops]
    await wait_consumers(js, "RELAY", [hop[0] for hop in hops])
    cpu_before = [cpu_seconds(proc.pid) for proc in procs] + [cpu_seconds(server.process.pid)]
    payload = orjson.dumps(orjson.loads(webhook("relay", 0, 1))["alerts"][0])
    started = time.perf_counter()
    for start in range(0, n, ALERTS_PER_WEBHOOK):
        acks = [
            await js.publish_async("relay.raw", payload, headers={"Nats-Msg-Id": f"relay-{i}"})
            for i in range(start, min(n, start + ALERTS_PER_WEBHOOK))
        ]
        await asyncio.gather(*acks)
    await wait_consumed(js, "RELAY", "r3", n, within=600)
    elapsed = time.perf_counter() - started
    cpu_after = [cpu_seconds(proc.pid) for proc in procs] + [cpu_seconds(server.process.pid)]
    relay_cpu = [round((a - b) / n * 1e6) for a, b in zip(cpu_after, cpu_before, strict=True)]
    for proc in procs:
        proc.terminate()
        proc.wait(10)
    await nc.close()
    return n / elapsed, relay_cpu


async def _watch(js: Any) -> None:
    """BENCH_WATCH=1: print each consumer's backlog twice a second, to see which stage limits."""
    while True:
        backlog = []
        for name in ("enricher", "analyst", "notifier"):
            info = await js.consumer_info(schemas.STREAM, name)
            backlog.append(f"{name} {info.num_pending}+{info.num_ack_pending}")
        print("   ", ", ".join(backlog))
        await asyncio.sleep(0.5)


def _profiled(name: str) -> list[str]:
    """BENCH_PROFILE=analyst writes /tmp/bench-analyst.prof (cProfile) for that service."""
    return (
        ["-m", "cProfile", "-o", f"/tmp/bench-{name}.prof"] if os.environ.get("BENCH_PROFILE") == name else []
    )


async def bench_pipeline(server: NatsServer, n: int) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, **BASE_ENV, "NATS_URL": server.url, "INGEST_PORT": str(port)}
    names = ("ingest", "enricher", "analyst", "notifier")
    ports = {name: port if name == "ingest" else free_port() for name in names}
    procs = {
        name: subprocess.Popen(
            [sys.executable, *_profiled(name), "-m", f"services.{name}"],
            env={**env, "HEALTH_PORT": str(ports[name])},
            stderr=subprocess.DEVNULL,
        )
        for name in names
    }
    url = f"http://127.0.0.1:{port}"
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    async with aiohttp.ClientSession() as http:
        # The clock starts once every service is ready (rules and packs loaded, consuming).
        async with asyncio.timeout(60):
            for name in names:
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{ports[name]}/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
        run = datetime.now(UTC).strftime("%H%M%S%f")
        batches = [webhook(run, b * ALERTS_PER_WEBHOOK) for b in range(n // ALERTS_PER_WEBHOOK)]
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)

        async def poster() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with http.post(
                    f"{url}/webhook/alertmanager", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    assert response.status == 200, await response.text()

        if os.environ.get("BENCH_WATCH"):
            asyncio.get_running_loop().create_task(_watch(js))
        cpu_before = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}
        nats_before = cpu_seconds(server.process.pid)
        started = time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(CONCURRENT_POSTS)))
        ingested = time.perf_counter() - started
        await wait_consumed(js, schemas.STREAM, "notifier", len(batches) * ALERTS_PER_WEBHOOK, within=900)
        elapsed = time.perf_counter() - started
        total = len(batches) * ALERTS_PER_WEBHOOK
        cpu = {name: (cpu_seconds(proc.pid) - cpu_before[name]) / total * 1e6 for name, proc in procs.items()}
        cpu["nats-server"] = (cpu_seconds(server.process.pid) - nats_before) / total * 1e6
        # Then a steady load well below capacity: the latency a person waits for an analysis.
        steady = [
            webhook(run + "s", b * ALERTS_PER_WEBHOOK)
            for b in range(STEADY_RATE * STEADY_SECONDS // ALERTS_PER_WEBHOOK)
        ]
        tick = ALERTS_PER_WEBHOOK / STEADY_RATE
        begin = time.perf_counter()
        for index, batch in enumerate(steady):
            await asyncio.sleep(max(0.0, begin + index * tick - time.perf_counter()))
            async with http.post(f"{url}/webhook/alertmanager", data=batch,
                                 headers={"Content-Type": "application/json"}) as response:  # fmt: skip
                assert response.status == 200
        steady_total = len(steady) * ALERTS_PER_WEBHOOK
        await wait_consumed(js, schemas.STREAM, "notifier", total + steady_total, within=300)
    every = await analyzed_latencies(js, total + steady_total)
    latencies, steady_latencies = every[:total], every[total:]
    memory = {name: rss_mib(proc.pid) for name, proc in procs.items()}
    for proc in procs.values():
        proc.terminate()
    for proc in procs.values():
        proc.wait(30)
    await nc.close()
    return {
        "rate": total / elapsed,
        "ingest_rate": total / ingested,
        "latencies": latencies,
        "steady_latencies": steady_latencies,
        "memory": memory,
        "cpu": cpu,
    }


async def analyzed_latencies(js: Any, total: int) -> list[float]:
    sub = await js.subscribe(schemas.ANALYZED, ordered_consumer=True)
    latencies = []
    for _ in range(total):
        msg = await sub.next_msg(timeout=30)
        message = schemas.decode(msg.data, schemas.AnalyzedAlert)
        latencies.append((message.analyzed_at - message.received_at).total_seconds())
    await sub.unsubscribe()
    return latencies


FLOOR = 0.6


async def main(n: int) -> int:
    server = NatsServer().start()
    try:
        relay_rate, relay_cpu = await bench_relay(server, n)
        result = await bench_pipeline(server, n)
    finally:
        server.close()
    lat = result["latencies"]
    heading(
        f"pipeline: {n} alerts through ingest -> enricher -> analyst -> notifier (2 cores, one nats-server)"
    )
    row(
        "bare nats-py relay, 3 hops (baseline)",
        f"{relay_rate:,.0f} alerts/s",
        f"CPU per alert: hops {relay_cpu[0]}+{relay_cpu[1]}+{relay_cpu[2]} µs, nats-server {relay_cpu[3]} µs",
    )
    row(
        "pipeline end to end (webhook -> notified)",
        f"{result['rate']:,.0f} alerts/s",
        f"ratio {result['rate'] / relay_rate:.2f} of the relay (floor {FLOOR:.2f})",
    )
    row("webhook intake (HTTP -> JetStream ack)", f"{result['ingest_rate']:,.0f} alerts/s")
    row("latency webhook -> alerts.analyzed p50 (flood)", f"{percentile(lat, 50) * 1000:,.0f} ms")
    row("latency webhook -> alerts.analyzed p99 (flood)", f"{percentile(lat, 99) * 1000:,.0f} ms")
    steady = result["steady_latencies"]
    row(f"latency at a steady {STEADY_RATE} alerts/s, p50", f"{percentile(steady, 50) * 1000:,.0f} ms")
    row(f"latency at a steady {STEADY_RATE} alerts/s, p99", f"{percentile(steady, 99) * 1000:,.0f} ms")
    row("nats-server: CPU per alert", "", f"{result['cpu']['nats-server']:,.0f} µs")
    for name, mib in result["memory"].items():
        row(f"{name}: RSS after the run / CPU per alert", f"{mib:,.0f} MiB", f"{result['cpu'][name]:,.0f} µs")
    return 0 if result["rate"] / relay_rate >= FLOOR else 1


if __name__ == "__main__":
    # Exit 1 below the floor, like the other benchmarks: a figure under its floor is a failure, said plainly.
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)))
