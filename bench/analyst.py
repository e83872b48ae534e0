"""``python -m bench.analyst``: LLM concurrency, calls saved by the episode cache, prompt sizes.

1. With the fake LLM answering in 2 s: analyses/s of the analyst handler with 32 in flight
   (MAX_IN_FLIGHT=32) against a sequential worker in the same run; floor: 24x (75% of the ideal 32x).
2. An Alertmanager storm: 200 alerts re-sent every 5 minutes for an hour (12 sends each) through
   the handler and a real JetStream key-value cache: LLM calls counted at the fake (floor: 200).
3. Prompt tokens per analysis on the scenario set (estimated, and as the fake counted them).
4. The rules analyst's CPU per alert (no LLM, as in the pipeline bench): decode, ``handle()``, encode,
   on the pipeline bench's alerts and on the scenario set; best and median of 5 rounds. A figure to
   read next to the pipeline bench's "analyst: CPU per alert" row (which adds nats-py's ~150 µs).
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

import msgspec
import nats
from prometheus_client import CollectorRegistry

import schemas
from bench._report import heading, median, row
from services.analyst import Analyst, AnalystMetrics, AnalystSettings, EpisodeCache, LlmAnalyst, RulesAnalyst
from services.analyst._prompt import build_prompt
from services.analyst.eval import load_scenarios
from services.ingest import parse_webhook
from tests.fakes.llm import FakeLlm
from tests.support.nats_server import NatsServer
from tests.support.webhooks import ALERTS_PER_WEBHOOK, webhook

IN_FLIGHT = 32
LLM_SECONDS = 2.0
# A ratio, not analyses/s: the machines here are shared and vary by a third.
SPEEDUP_FLOOR = 24.0
STORM_ALERTS = 200
STORM_SENDS = 12  # every 5 minutes for an hour


def _settings(fake: FakeLlm) -> AnalystSettings:
    return AnalystSettings(
        llm_api_key="sk-bench", llm_base_url=fake.url, max_in_flight=IN_FLIGHT, llm_retry_base_seconds=0.05
    )


def _alerts(count: int, base: schemas.EnrichedAlert, tag: str) -> list[schemas.EnrichedAlert]:
    out = []
    for i in range(count):
        alert = msgspec.structs.replace(
            base.alert,
            fingerprint=f"{tag}{i:06d}",
            starts_at=base.alert.starts_at + timedelta(seconds=i),
        )
        out.append(msgspec.structs.replace(base, alert=alert, id=schemas.alert_id(alert)))
    return out


async def _run(analyst: Analyst, messages: list[schemas.EnrichedAlert], in_flight: int) -> float:
    slots = asyncio.Semaphore(in_flight)

    async def one(message: schemas.EnrichedAlert) -> None:
        async with slots:
            await analyst.handle(message)

    started = time.perf_counter()
    await asyncio.gather(*(one(m) for m in messages))
    return time.perf_counter() - started


async def throughput(base: schemas.EnrichedAlert) -> float:
    """How many times the sequential worker's rate MAX_IN_FLIGHT concurrent analyses reach."""
    heading(f"analyst throughput, fake LLM answering in {LLM_SECONDS:.0f}s")
    fake = await FakeLlm(delay=LLM_SECONDS).start()
    metrics = AnalystMetrics(CollectorRegistry())
    llm = LlmAnalyst(_settings(fake), RulesAnalyst(), metrics)
    analyst = Analyst(RulesAnalyst(), metrics, llm=llm)
    try:
        sequential = 3 / await _run(analyst, _alerts(3, base, "seq"), 1)
        count = IN_FLIGHT * 4
        concurrent = count / await _run(analyst, _alerts(count, base, "par"), IN_FLIGHT)
    finally:
        await llm.close()
        await fake.close()
    row("sequential worker", f"{sequential:.2f}/s")
    speedup = concurrent / sequential
    row(
        f"MAX_IN_FLIGHT={IN_FLIGHT} ({count} alerts)",
        f"{concurrent:.1f}/s",
        f"{speedup:.1f}x the sequential worker (floor {SPEEDUP_FLOOR:.0f}x)",
    )
    return speedup


async def storm(base: schemas.EnrichedAlert) -> int:
    heading(f"storm: {STORM_ALERTS} alerts re-sent every 5 min for 1 h ({STORM_SENDS} sends each)")
    server = NatsServer().start()
    fake = await FakeLlm().start()
    nc = await nats.connect(server.url)
    metrics = AnalystMetrics(CollectorRegistry())
    llm = LlmAnalyst(_settings(fake), RulesAnalyst(), metrics)
    try:
        cache = await EpisodeCache.open(nc.jetstream(), "aiops-analyses", ttl_hours=24)
        analyst = Analyst(RulesAnalyst(), metrics, llm=llm, cache=cache)
        alerts = _alerts(STORM_ALERTS, base, "storm")
        started = time.perf_counter()
        for _ in range(STORM_SENDS):
            await _run(analyst, alerts, IN_FLIGHT)
        seconds = time.perf_counter() - started
    finally:
        await llm.close()
        await fake.close()
        await nc.close()
        server.close()
    row("messages analysed", f"{STORM_ALERTS * STORM_SENDS}", f"in {seconds:.1f}s")
    row("LLM calls", f"{fake.calls}", f"without the cache: {STORM_ALERTS * STORM_SENDS}")
    return fake.calls


async def prompt_sizes() -> None:
    heading("prompt tokens per analysis on the scenario set")
    scenarios = load_scenarios()
    estimated = [float(build_prompt(s.message, 6000).estimated_tokens) for s in scenarios]
    fake = await FakeLlm().start()
    llm = LlmAnalyst(_settings(fake), RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    try:
        counted = [float((await llm.analyze(s.message)).prompt_tokens) for s in scenarios]
    finally:
        await llm.close()
        await fake.close()
    row("estimated (chars/3.5), median / max", f"{median(estimated):.0f} / {max(estimated):.0f}")
    row("counted by the fake (chars/4), median / max", f"{median(counted):.0f} / {max(counted):.0f}")


async def _cpu_per_alert(analyst: Analyst, datas: list[bytes]) -> tuple[float, float]:
    """Best and median CPU µs per message of decode + handle + encode, the analyst's own work."""
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for data in datas:
            schemas.encode(await analyst.handle(schemas.decode(data, schemas.EnrichedAlert)))
        rounds.append((time.process_time() - started) / len(datas) * 1e6)
    return min(rounds), median(rounds)


async def rules_cpu() -> None:
    heading("rules analyst: CPU per alert of decode + handle() + encode, no LLM")
    now = datetime.now(UTC)
    unset = [
        schemas.EnrichmentError(
            source=s, reason=f"{s.upper()}_URL is not set", kind=schemas.SourceErrorKind.NOT_CONFIGURED
        )
        for s in ("prometheus", "loki")
    ]
    flood = [
        schemas.encode(schemas.enriched(raw, schemas.Evidence(errors=unset), now))
        for first in range(0, 4000, ALERTS_PER_WEBHOOK)
        for raw in parse_webhook(webhook("cpu", first))
    ]
    scenarios = [schemas.encode(s.message) for s in load_scenarios()] * 10
    analyst = Analyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    for name, datas in (
        ("the pipeline bench's alerts", flood),
        ("the scenario set (logs, metrics)", scenarios),
    ):
        best, middle = await _cpu_per_alert(analyst, datas)
        row(name, f"{best:.0f} µs", f"median {middle:.0f} µs, {len(datas)} alerts a round")


async def main() -> int:
    base = load_scenarios()[0].message
    base = msgspec.structs.replace(
        base, alert=msgspec.structs.replace(base.alert, starts_at=datetime.now(UTC).replace(microsecond=0))
    )
    speedup = await throughput(base)
    calls = await storm(base)
    await prompt_sizes()
    await rules_cpu()
    failed = speedup < SPEEDUP_FLOOR or calls > STORM_ALERTS
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
