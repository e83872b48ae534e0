"""What ``aiops status`` knows: snapshots of the services and of JetStream, and the report from them.

assess()   the report: every service's state from one full snapshot, rates from the counters of two
           taken ONE_SHOT_RATE_SECONDS (or --interval) apart, and the problems that make the command
           exit non-zero (a service down or not ready, NATS or the stream missing, the LLM circuit
           breaker open). Dead letters and lag are shown, not failed on: they are work to look at, not
           an outage.

Pure: the probes are in ``_probes`` (HTTP) and ``_status_nats`` (JetStream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import schemas
from services.cli._probes import NOT_LISTENING, OPTIONAL, ServiceProbe

# Notifier outcomes that mean an analysis left the pipeline (posted, or written to the log).
SENT = ("delivered", "logged")
# The durable consumers (``runtime.CONSUMERS``, repeated so that status need not import the runtime;
# a unit test keeps them equal): the pipeline's three stages, then their companions.
CONSUMERS = (
    "enricher",
    "analyst",
    "notifier",
    "incidents",
    "notifier-incidents",
    "history",
    "history-incidents",
    "history-feedback",
)
# The services whose /metrics hold a counter behind a rate (the others' rates are the stream's counts).
COUNTED = ("ingest", "notifier", "history")


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


def assess(
    before: Snapshot, now: Snapshot, daily_limit: int = 0, state: Snapshot | None = None
) -> dict[str, Any]:
    """Rates from ``before`` to ``now``; everything else from ``state`` (default ``now``), a full snapshot
    where ``now`` may hold only the counters (``COUNTED``'s /metrics and the stream's subjects)."""
    seconds = now.at - before.at
    counts_before, counts_now = _counts(before), _counts(now)
    state = state or now
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = {}
    for name, probe in state.services.items():
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
        consumer = state.nats.consumers.get(name)
        if isinstance(consumer, dict):
            row.update(consumer)
        elif consumer is not None and not state.nats.error:
            problems.append(f"{name} consumer: {consumer}")
        if name in CONSUMERS and probe.up:
            row["dead_lettered_since_start"] = int(probe.total("aiops_dead_letters_total"))
        services[name] = row
    if state.nats.error:
        problems.insert(0, f"NATS: {state.nats.error}")
    llm = _llm(state.services["analyst"], state.nats.tokens_today, daily_limit)
    if llm["breaker"] == "open":
        problems.append("analyst: the LLM circuit breaker is open; the rules analyst answers meanwhile")
    return {
        "healthy": not problems,
        "problems": problems,
        "services": services,
        "dead_letters": state.nats.subjects.get(schemas.DEAD, 0) if not state.nats.error else None,
        "stream_messages": state.nats.messages if not state.nats.error else None,
        "llm": llm,
        "destinations": _destinations(state.services["notifier"]),
        "rate_seconds": round(seconds, 2),
        "took_ms": round(state.took * 1000, 1),
    }
