"""The notifier's own telemetry: one counter per delivery outcome, one latency histogram."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "aiops_notifications_total",
            "Notifications by destination and outcome "
            "(delivered, duplicate, retry, rejected, held, suppressed_*, logged)",
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

    def outcome(self, destination: str, outcome: str) -> None:
        self.notifications.labels(destination, outcome).inc()
