"""The notifier's own telemetry: one counter per delivery outcome, one latency histogram."""

from __future__ import annotations

from typing import Self

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.runtime import per_registry


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "aiops_notifications_total",
            "Notifications by destination and outcome "
            "(delivered, duplicate, retry, rejected, held, suppressed_*, logged, grouped, superseded)",
            ["destination", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "aiops_notification_seconds",
            "Time a destination took to answer one post",
            ["destination"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self._bound: dict[tuple[str, str], Counter] = {}

    @classmethod
    def of(cls, registry: CollectorRegistry) -> Self:
        """The metrics registered in ``registry``, registering them the first time (the stage and its
        companion consumer serve one /metrics)."""
        return per_registry(registry, cls)

    def outcome(self, destination: str, outcome: str) -> None:
        child = self._bound.get((destination, outcome))
        if child is None:
            # Bound once per pair: a label lookup per alert is measurable when all the notifier does is log.
            child = self._bound[destination, outcome] = self.notifications.labels(destination, outcome)
        child.inc()
