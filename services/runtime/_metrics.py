"""The runtime's telemetry contract: what every stage counts, in Prometheus text format.

A retried message is counted as ``retry``, never as dropped; a message that reached
``alerts.dead`` is ``dead``; ``error_type`` stays a small bounded set.
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _Families:
    """The metric families of one registry, shared by the stages a process runs (``per_registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "aiops_messages", "Messages a stage finished, by outcome", ["stage", "outcome"], registry=registry
        )
        self.dead_letters = Counter(
            "aiops_dead_letters", "Messages sent to alerts.dead", ["stage", "error_type"], registry=registry
        )
        self.handler_seconds = Histogram(
            "aiops_handler_seconds",
            "Time from receipt to ack, retry or dead letter of one message",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "aiops_in_flight", "Messages being processed now", ["stage"], registry=registry
        )


M = TypeVar("M")
_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, dict[type[Any], Any]] = weakref.WeakKeyDictionary()


def per_registry(registry: CollectorRegistry, kind: type[M]) -> M:
    """The one ``kind(registry)`` of ``registry``, made the first time: a stage and its companions share
    a process and one /metrics, and a metric family registered twice in one registry is an error."""
    made = _SHARED.setdefault(registry, {})
    if kind not in made:
        made[kind] = kind(registry)  # type: ignore[call-arg]
    found: M = made[kind]
    return found


class StageMetrics:
    def __init__(self, registry: CollectorRegistry, stage: str) -> None:
        self.stage = stage
        families = per_registry(registry, _Families)
        self.dead_letters = families.dead_letters
        # Bound once: a label lookup per message is measurable on the hot path.
        self.handler_seconds = families.handler_seconds.labels(stage)
        self.in_flight = families.in_flight.labels(stage)
        self.ok = families.messages.labels(stage, "ok")
        self.retry = families.messages.labels(stage, "retry")
        self.dead_total = families.messages.labels(stage, "dead")

    def dead(self, error_type: str) -> None:
        self.dead_letters.labels(self.stage, error_type).inc()
        self.dead_total.inc()


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


__all__ = ["CollectorRegistry", "StageMetrics", "exposition", "per_registry"]
