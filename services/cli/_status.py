"""What ``aiops status`` knows: one snapshot of the services and of JetStream, and a report from two.

collect()  every service's /healthz, /readyz and /metrics, and the stream, the consumers and the
           day's LLM tokens from NATS, all at once
assess()   two snapshots -> the report: rates from their difference, and the problems that make
           the command exit non-zero (a service down or not ready, NATS or the stream missing,
           the LLM circuit breaker open). Dead letters and lag are shown, not failed on: they
           are work to look at, not an outage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

import schemas
from services.cli._probes import NOT_LISTENING, OPTIONAL, PROBE_SECONDS, ServiceProbe, probe_all
from services.runtime import CONSUMERS

# Notifier outcomes that mean an analysis left the pipeline (posted, or written to the log).
SENT = ("delivered", "logged")


@dataclass
class NatsView:
    error: str = ""
    consumers: dict[str, dict[str, int] | str] = field(default_factory=dict)  # counts, or why none
    subjects: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    tokens_today: int | None = None  # None: no analyst has recorded any (no budget bucket)


@dataclass
class Snapshot:
    at: float
    services: dict[str, ServiceProbe]
    nats: NatsView
    took: float


def _token_key(day: str) -> str:
    # The key the analyst's SharedTally writes (services/analyst/_budget.py).
    return f"tokens.{day}"


async def _tokens_today(js: JetStreamContext, bucket: str) -> int | None:
    try:
        kv = await js.key_value(bucket)
        entry = await kv.get(_token_key(datetime.now(UTC).date().isoformat()))
    except BucketNotFoundError:
        return None
    except KeyNotFoundError:
        return 0
    try:
        return int(entry.value or b"0")
    except ValueError:
        return None


async def _consumer(js: JetStreamContext, name: str) -> dict[str, int] | str:
    try:
        info = await js.consumer_info(schemas.STREAM, name, timeout=PROBE_SECONDS)
    except NotFoundError:
        return "not created yet (the stage has never started)"
    return {
        "lag": info.num_pending or 0,
        "ack_pending": info.num_ack_pending or 0,
        "redelivered": info.num_redelivered or 0,
    }


async def read_nats(nc: Client | None, why_not: str, budget_bucket: str) -> NatsView:
    if nc is None or not nc.is_connected:
        return NatsView(error=why_not or "not connected")
    js = nc.jetstream(timeout=PROBE_SECONDS)
    try:
        stream = await js.stream_info(schemas.STREAM, subjects_filter="alerts.>")
    except NotFoundError:
        return NatsView(error=f"stream {schemas.STREAM} missing: start any stage to create it")
    except Exception as exc:
        return NatsView(error=f"JetStream did not answer ({type(exc).__name__})")
    consumers, tokens = await asyncio.gather(
        asyncio.gather(*(_consumer(js, name) for name in CONSUMERS), return_exceptions=True),
        _tokens_today(js, budget_bucket),
        return_exceptions=True,
    )
    view = NatsView(subjects=dict(stream.state.subjects or {}), messages=stream.state.messages)
    if not isinstance(consumers, BaseException):
        for name, answer in zip(CONSUMERS, consumers, strict=True):
            view.consumers[name] = answer if not isinstance(answer, BaseException) else type(answer).__name__
    view.tokens_today = tokens if isinstance(tokens, int) else None
    return view


async def collect(urls: Mapping[str, str], nc: Client | None, why_not: str, budget_bucket: str) -> Snapshot:
    started = time.monotonic()
    services, nats_view = await asyncio.gather(probe_all(urls), read_nats(nc, why_not, budget_bucket))
    return Snapshot(started, services, nats_view, time.monotonic() - started)


def _per_second(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None or seconds <= 0:
        return None
    # A counter that went down was reset (a restart) or aged out of the stream: count from zero.
    grown = after - before if after >= before else after
    return round(grown / seconds, 2)


def _counts(snapshot: Snapshot) -> dict[str, tuple[float | None, float | None]]:
    """Per service, the running totals behind its rates, (in, out); None where nobody answered."""
    subjects = snapshot.nats.subjects if not snapshot.nats.error else None
    probes = snapshot.services

    def on(subject: str) -> float | None:
        return None if subjects is None else subjects.get(subject, 0)

    def metric(service: str, name: str, outcomes: tuple[str, ...] = ()) -> float | None:
        probe = probes[service]
        if not probe.metrics:
            return None
        if not outcomes:
            return probe.total(name)
        return sum(probe.total(name, outcome=outcome) for outcome in outcomes)

    return {
        "ingest": (metric("ingest", "aiops_ingest_alerts_total"), on(schemas.RAW)),
        "enricher": (on(schemas.RAW), on(schemas.ENRICHED)),
        "analyst": (on(schemas.ENRICHED), on(schemas.ANALYZED)),
        "notifier": (on(schemas.ANALYZED), metric("notifier", "aiops_notifications_total", SENT)),
        # Rows written: its consumers' acknowledged messages (analyses, incident events, verdicts).
        "history": (on(schemas.ANALYZED), metric("history", "aiops_messages_total", ("ok",))),
        "console": (None, None),
    }


def _destinations(notifier: ServiceProbe) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for labels, value in notifier.metrics.get("aiops_notifications_total", []):
        outcomes = table.setdefault(labels.get("destination", "?"), {})
        outcomes[labels.get("outcome", "?")] = int(value)
    return table


def _llm(analyst: ServiceProbe, tokens_today: int | None, daily_limit: int) -> dict[str, Any]:
    breaker = analyst.metrics.get("aiops_llm_breaker_open")
    state = "unknown" if not breaker else ("open" if breaker[0][1] else "closed")
    return {
        "breaker": state,
        "requests_since_start": {
            k: int(v) for k, v in analyst.by_label("aiops_llm_requests_total", "outcome").items()
        },
        "tokens_since_start": int(analyst.total("aiops_llm_tokens_total")),
        "tokens_today": tokens_today,
        "daily_limit": daily_limit or None,
    }


def assess(before: Snapshot, now: Snapshot, daily_limit: int = 0) -> dict[str, Any]:
    seconds = now.at - before.at
    counts_before, counts_now = _counts(before), _counts(now)
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = {}
    for name, probe in now.services.items():
        row: dict[str, Any] = {"url": probe.url, "up": probe.up, "ready": probe.ready, "reason": probe.reason}
        if not probe.up and name in OPTIONAL and probe.reason.startswith(NOT_LISTENING):
            row["reason"] = f"not running ({probe.reason})"
        elif not probe.up:
            problems.append(f"{name} is down: {probe.reason}")
        elif not probe.ready:
            problems.append(f"{name} is not ready: {probe.reason}")
        (in_a, out_a), (in_b, out_b) = counts_before[name], counts_now[name]
        row["in_per_s"] = _per_second(in_a, in_b, seconds)
        row["out_per_s"] = _per_second(out_a, out_b, seconds)
        consumer = now.nats.consumers.get(name)
        if isinstance(consumer, dict):
            row.update(consumer)
        elif consumer is not None and not now.nats.error:
            problems.append(f"{name} consumer: {consumer}")
        if name in CONSUMERS and probe.up:
            row["dead_lettered_since_start"] = int(probe.total("aiops_dead_letters_total"))
        services[name] = row
    if now.nats.error:
        problems.insert(0, f"NATS: {now.nats.error}")
    llm = _llm(now.services["analyst"], now.nats.tokens_today, daily_limit)
    if llm["breaker"] == "open":
        problems.append("analyst: the LLM circuit breaker is open; the rules analyst answers meanwhile")
    return {
        "healthy": not problems,
        "problems": problems,
        "services": services,
        "dead_letters": now.nats.subjects.get(schemas.DEAD, 0) if not now.nats.error else None,
        "stream_messages": now.nats.messages if not now.nats.error else None,
        "llm": llm,
        "destinations": _destinations(now.services["notifier"]),
        "rate_seconds": round(seconds, 2),
        "took_ms": round(now.took * 1000, 1),
    }
