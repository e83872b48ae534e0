"""What tracing costs: the pipeline exporting every span against the same pipeline with tracing off.

``python -m bench.tracing [N]`` (11 rounds, ``BENCH_ROUNDS``, of N = 10,000 alerts);
``python -m bench.tracing spans`` measures only what one stage's tracing costs per message,
in-process (a minute, where the whole is four).
Each pipeline is the four services as processes on a nats-server of its own, all started
once; rounds flood one after the other, in an order that turns each round, so the machine's
drift hits all alike. The issue's goal (tracing costs at most 10%: 0.90) is printed against the
median round's ratio, with the interval the true median lies in at 95% or more (the whole range, and
how sure it is, with 5 rounds or fewer), from the rounds' order alone: no assumption about how they
scatter. Rounds of the same code scatter by ±10% on this shared machine, so many short rounds say
more than a few long ones; the floor that fails the run is lower than the goal, a guard against
regressions, because single runs' medians land between 0.84 and 1.00 (docs/benchmarks.md; over 64
rounds of today's code the median is 0.935, within 0.90-0.96).
The traced services export over OTLP/HTTP to a local collector that counts spans and
discards them; a round's traced figure counts only once every span has arrived, so a span
dropped or still queued cannot make tracing look cheaper than it is.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats

from bench._report import heading, row
from bench.pipeline import Pipeline
from services.runtime import add_trace_context, tracing_enabled
from services.runtime._tracing import traced_handling
from tests.fakes.otlp import FakeCollector
from tests.support.nats_server import NatsServer
from tests.support.webhooks import ALERTS_PER_WEBHOOK

GOAL = 0.9  # throughput with tracing on / off: tracing costs at most 10% (issue #15)
# What fails the run: below every run of today's code (0.84-1.00), above the 0.74 measured before
# the stages' spans became records of ours, which is the kind of regression it is there to catch.
FLOOR = 0.8
SAMPLED = 0.1  # the share of traces sampled in the run the goal and floor apply to
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "11"))
ALERTS = 10_000  # per round and pipeline
STAGES = 3  # one span per alert in the enricher, the analyst and the notifier (it only logs here)


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(low, high, coverage): the narrowest pair of order statistics holding the true median with at
    least ``confidence``, and how sure it is; with too few values for that (5 or fewer at 0.95), the
    whole range and how sure it is. Each round lands above or below the median with even odds whatever
    the distribution, so the count below it is binomial (n, 1/2)."""
    ordered = sorted(values)
    n = len(ordered)
    # From the whole range (it misses only when every value falls on one side) inwards, while the
    # next pair is sure enough. tail: P(fewer than ``below`` of the n values under the true median).
    tail, below = 1 / 2**n, 1
    while below < n // 2:
        more = tail + math.comb(n, below) / 2**n
        if 2 * more > 1 - confidence:
            break
        tail, below = more, below + 1
    return ordered[below - 1], ordered[n - below], 1 - 2 * tail


class Side:
    """One pipeline on its own server, and a connection to watch its consumers."""

    def __init__(self, env: dict[str, str]) -> None:
        self.server = NatsServer().start()
        self.pipeline = Pipeline(self.server, env)
        self.js: Any = None
        self.nc: Any = None

    async def ready(self, http: aiohttp.ClientSession) -> None:
        self.nc = await nats.connect(self.server.url)
        self.js = self.nc.jetstream()
        await self.pipeline.ready(http)

    async def close(self) -> None:
        self.pipeline.stop()
        if self.nc is not None:
            await self.nc.close()
        self.server.close()


def span_cost(endpoint: str, flags: str, sampler: str, messages: int = 20_000) -> float:
    """µs of CPU per message of a stage's tracing, spans sent to ``endpoint``; run in a process of its own.

    ``flags`` is the incoming trace's ("01" sampled, "00" not; "request": ingest's span for a webhook
    request without a ``traceparent``, per request); ``sampler`` the SDK's (``always_on`` is not
    parent-based, so the span is the SDK's own rather than a StageSpan).
    The time covers making the spans and, in the exporter's thread, encoding and posting them.
    """
    import services.analyst  # noqa: F401  a service's long-lived objects, for the garbage collector to scan
    from services.runtime._http_spans import trace_http_status, traced_request
    from services.runtime._tracing import setup_tracing, stop_tracing

    os.environ.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_TRACES_SAMPLER=sampler,
        OTEL_BSP_MAX_QUEUE_SIZE=str(messages),  # none dropped: a dropped span costs nothing
    )
    assert setup_tracing("analyst")
    headers = {
        "Nats-Msg-Id": "enricher:0123456789abcdef",
        "traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}",
    }
    started = time.process_time()
    if flags == "request":
        for _ in range(messages):
            with traced_request("POST", "/webhook/alertmanager", {}) as span:
                add_trace_context({})
                trace_http_status(span, 200, False)
    else:
        for _ in range(messages):
            with traced_handling("analyst", headers):
                add_trace_context({"Nats-Msg-Id": "analyst:0123456789abcdef"})
    stop_tracing()  # every span encoded and sent
    return (time.process_time() - started) / messages * 1e6


async def span_costs(messages: int = 20_000) -> dict[str, float]:
    """``span_cost`` for each case, each in a fresh process, against a sink in this one."""
    sink = await FakeCollector(keep=False).start()
    spawn = multiprocessing.get_context("spawn")
    cases = {
        "stage": ("01", "parentbased_always_on"),
        "sdk": ("01", "always_on"),
        "unsampled": ("00", "parentbased_always_on"),
        "request": ("request", "parentbased_always_on"),
        "unsampled request": ("request", "parentbased_always_off"),
    }
    costs = {}
    try:
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            for name, (flags, sampler) in cases.items():
                before = sink.count
                args = (sink.endpoint, flags, sampler, messages)
                costs[name] = await asyncio.to_thread(pool.apply, span_cost, args)
                recorded = sink.count - before
                dropped = flags == "00" or sampler.endswith("always_off")
                assert recorded == (0 if dropped else messages), f"{name}: {recorded} spans of {messages}"
    finally:
        await sink.close()
    return costs


def off_cost(messages: int = 200_000) -> float:
    """µs per message of what the consumer loop calls for tracing, in this process where it is off."""
    assert not tracing_enabled()
    headers = {"Nats-Msg-Id": "x"}
    started = time.process_time()
    for _ in range(messages):
        with traced_handling("enricher", headers):
            add_trace_context({"Nats-Msg-Id": "y"})
    return (time.process_time() - started) / messages * 1e6


async def main(n: int) -> int:
    n -= n % ALERTS_PER_WEBHOOK
    every_sink = await FakeCollector(keep=False).start()
    sampled_sink = await FakeCollector(keep=False).start()
    sides = {
        "off": Side({"OTEL_SDK_DISABLED": "true"}),
        "sampled": Side(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sampled_sink.endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(SAMPLED),
            }
        ),
        "every": Side({"OTEL_EXPORTER_OTLP_ENDPOINT": every_sink.endpoint}),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    complete = True
    # Every alert's spans, and one per webhook request in ingest.
    per_round = n * STAGES + n // ALERTS_PER_WEBHOOK
    try:
        async with aiohttp.ClientSession() as http:
            for side in sides.values():
                await side.ready(http)
            run = datetime.now(UTC).strftime("%H%M%S%f")
            names = list(sides)
            for round_ in range(ROUNDS):
                # Each round in another order, so that none of the three always follows the same one.
                for name in names[round_ % 3 :] + names[: round_ % 3]:
                    side = sides[name]
                    runs[name].append(await side.pipeline.flood(http, side.js, n, f"{run}{name}{round_}"))
                    if name == "every":
                        # Not on the clock, but before the next run: spans still queued cost CPU there.
                        complete = await every_sink.wait_count((round_ + 1) * per_round, 60) and complete
    finally:
        for side in sides.values():
            await side.close()
        await every_sink.close()
        await sampled_sink.close()
    ratios = {
        name: [t["rate"] / p["rate"] for p, t in zip(runs["off"], runs[name], strict=True)]
        for name in ("sampled", "every")
    }
    # CPU per alert of the services and nats-server, off over on: what the throughput ratio would
    # be if the run had the two cores to itself (interference from outside moves it less).
    cpu_ratios = {
        name: [
            sum(p["cpu"].values()) / sum(t["cpu"].values())
            for p, t in zip(runs["off"], runs[name], strict=True)
        ]
        for name in ("sampled", "every")
    }
    # The round whose figures are printed in full: the median one (the upper of two, for an even count).
    middle = sorted(range(ROUNDS), key=lambda i: ratios["sampled"][i])[ROUNDS // 2]
    heading(f"tracing: {n} alerts through the pipeline, spans exported over OTLP/HTTP, {ROUNDS} rounds")
    for name, what in (("sampled", f"{SAMPLED:.0%} of traces sampled"), ("every", "every trace sampled")):
        median = statistics.median(ratios[name])
        floor = "(no floor: see docs/benchmarks.md)"
        if name == "sampled":
            floor = f"(floor {FLOOR:.2f}, goal {GOAL:.2f})"
        row(
            f"ratio on / off, {what}",
            " ".join(f"{r:.2f}" for r in ratios[name]),
            f"median {median:.3f} {floor}",
        )
        low, high, coverage = median_interval(ratios[name])
        row("  the true median, from the rounds' order", f"{low:.2f} to {high:.2f}", f"{coverage:.1%} sure")
    for name, what in (("sampled", f"{SAMPLED:.0%} sampled"), ("every", "every trace")):
        median = statistics.median(cpu_ratios[name])
        row(
            f"CPU per alert off / on, {what}",
            " ".join(f"{r:.2f}" for r in cpu_ratios[name]),
            f"median {median:.2f}",
        )
    off, sampled, every = (runs[name][middle] for name in sides)
    per_alert = sum(off["cpu"].values())
    row(
        "tracing off: its calls per message and stage",
        f"{off_cost():.2f} µs",
        f"x3 stages, against {per_alert:,.0f} µs of CPU per alert",
    )
    costs = await span_costs()
    row("tracing on: a recorded stage span", f"{costs['stage']:.0f} µs", "CPU: made, encoded, sent")
    row("  the same with the SDK's own span", f"{costs['sdk']:.0f} µs", "(a sampler not parent-based)")
    row("  a message of an unsampled trace", f"{costs['unsampled']:.1f} µs", "context forwarded, no span")
    row("ingest: a request's span (a root)", f"{costs['request']:.1f} µs", "CPU: made, encoded, sent")
    row("  a request of an unsampled trace", f"{costs['unsampled request']:.1f} µs", "context made, no span")
    row("pipeline, tracing off", f"{off['rate']:,.0f} alerts/s", "the median round's figures follow")
    row(f"pipeline, {SAMPLED:.0%} of traces sampled", f"{sampled['rate']:,.0f} alerts/s")
    row("pipeline, every trace sampled", f"{every['rate']:,.0f} alerts/s")
    row(
        "spans received, every trace sampled",
        f"{every_sink.count:,}",
        "all of them" if complete else f"SOME MISSING of {ROUNDS * per_round:,}",
    )
    row(
        f"spans received, {SAMPLED:.0%} sampled",
        f"{sampled_sink.count:,}",
        f"about {SAMPLED * ROUNDS * per_round:,.0f} expected",
    )
    for name in ("ingest", "enricher", "analyst", "notifier"):
        cpu = " / ".join(f"{side['cpu'][name]:,.0f}" for side in (off, sampled, every))
        row(f"{name}: CPU per alert off / sampled / every", f"{cpu} µs")
    ratio = statistics.median(ratios["sampled"])
    cost = f"{1 - ratio:.1%}"
    if ratio < FLOOR:
        print(f"  tracing {SAMPLED:.0%} of alerts costs {cost} of the throughput, more than {1 - FLOOR:.0%}")
    else:
        met = "within" if round(ratio, 3) >= GOAL else "NOT within"
        print(f"  tracing {SAMPLED:.0%} of alerts costs {cost} of the throughput in this run: {met} the goal")
    if not complete:
        print("  the collector did not receive every span: the figures understate what tracing costs")
    return 0 if ratio >= FLOOR and complete else 1


async def spans_only(messages: int = 100_000) -> int:
    costs = await span_costs(messages)
    heading(f"tracing: what one stage's tracing costs per message, {messages:,} messages a case")
    row("tracing on: a recorded stage span", f"{costs['stage']:.1f} µs", "CPU: made, encoded, sent")
    row("  the same with the SDK's own span", f"{costs['sdk']:.0f} µs", "(a sampler not parent-based)")
    row("  a message of an unsampled trace", f"{costs['unsampled']:.1f} µs", "context forwarded, no span")
    row("ingest: a request's span (a root)", f"{costs['request']:.1f} µs", "CPU: made, encoded, sent")
    row("  a request of an unsampled trace", f"{costs['unsampled request']:.1f} µs", "context made, no span")
    row("tracing off: its calls per message and stage", f"{off_cost():.2f} µs")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["spans"]:
        sys.exit(asyncio.run(spans_only()))
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ALERTS)))
