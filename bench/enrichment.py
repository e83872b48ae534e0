"""Enrichment benchmark: log clustering throughput and compression, and latency per alert
against a real Prometheus. ``python -m bench.enrichment``. The templating speed floor is a ratio against
Drain3 measured in the same run, in ``bench.templates``; here the rate on the bundled incident log is shown.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import aiohttp

from bench.templates import drain3_labels
from schemas import Alert, RawAlert
from services.enricher import EnricherSettings, cluster, make_enricher
from services.enricher._templates import within_budget
from services.runtime import load
from tests.integration.enricher.prometheus_tsdb import binaries_missing, incident_prometheus

SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "enricher" / "payments-api-incident.log"
)
ALERTS = [
    (
        {"alertname": "HostHighCpu", "instance": "node-1:9100"},
        '(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m]))) > 0.9',
    ),
    ({"alertname": "HostDiskWillFillIn1h", "instance": "node-2:9100", "mountpoint": "/var"}, ""),
    ({"alertname": "ContainerMemoryNearLimit", "namespace": "shop", "pod": "cart-0"}, ""),
    ({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-1"}, ""),
    (
        {"alertname": "HighErrorRate", "job": "checkout"},
        'sum(rate(http_requests_total{job="checkout",code=~"5.."}[2m])) > 5',
    ),
]


def clustering() -> None:
    entries = []
    for row in SAMPLE.read_text(encoding="utf-8").splitlines():
        stamp, line = row.split("\t", 1)
        entries.append((datetime.fromisoformat(stamp).timestamp(), line))
    rounds = 200
    began = time.perf_counter()
    for _ in range(rounds):
        templates = cluster(entries)
    rate = rounds * len(entries) / (time.perf_counter() - began)
    lines = [line for _, line in entries]
    began = time.perf_counter()
    for _ in range(rounds // 4):
        drain3_labels(lines)
    drain3_rate = rounds // 4 * len(entries) / (time.perf_counter() - began)
    kept = within_budget(templates, max_templates=40, char_budget=6000)
    chars_in = sum(len(line) for _, line in entries)
    chars_out = sum(len(t.template) + len(t.sample) for t in kept)
    print(
        f"log clustering: {rate:,.0f} lines/s, Drain3 {drain3_rate:,.0f} on the same lines "
        f"({rate / drain3_rate:.2f}x; the floor is the ratio on Loghub, in bench.templates)"
    )
    print(
        f"log compression: {len(entries)} lines -> {len(templates)} templates "
        f"({len(kept)} within 6000 chars); "
        f"{chars_in:,} chars -> {chars_out:,} ({chars_in / chars_out:.1f}x)"
    )


async def latency(rounds: int = 20) -> None:
    with incident_prometheus() as prometheus:
        requests = SimpleNamespace(count=0)
        trace = aiohttp.TraceConfig()

        async def counted(*_: object) -> None:
            requests.count += 1

        trace.on_request_start.append(counted)
        env = {"PROMETHEUS_URL": prometheus.url, "QUERY_CACHE_SECONDS": "0"}
        starts_at = datetime.fromtimestamp(prometheus.starts_at, UTC)
        async with aiohttp.ClientSession(trace_configs=[trace]) as session:
            enricher = make_enricher(load(EnricherSettings, env), session)
            timings, queries = [], []
            for _ in range(rounds):
                for labels, expr in ALERTS:
                    url = f"{prometheus.url}/graph?g0.expr={quote(expr)}" if expr else ""
                    alert = Alert(status="firing", labels=labels, starts_at=starts_at, generator_url=url)
                    before = requests.count
                    began = time.perf_counter()
                    await enricher.handle(RawAlert(id="b", alert=alert, received_at=starts_at))
                    timings.append(time.perf_counter() - began)
                    queries.append(requests.count - before)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"enrichment latency (real Prometheus, {len(timings)} alerts, no cache): "
        f"p50 {statistics.median(timings) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
    )
    print(
        f"queries per alert: mean {statistics.fmean(queries):.1f}, min {min(queries)}, max {max(queries)} "
        "(existence checks included)"
    )


def main() -> None:
    from loguru import logger

    logger.remove()
    clustering()
    missing = binaries_missing()
    if missing:
        print(f"enrichment latency: skipped, {missing}")
    else:
        asyncio.run(latency())


if __name__ == "__main__":
    main()
