"""Ingest's own telemetry, next to the runtime's: requests, stored alerts, and the pipeline's queues.

The queue gauges live here because ingest is the one process always running that can see every
stage's consumer; a stage's own metrics cannot say how much waits for it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "aiops_ingest_requests", "HTTP requests by path and status", ["path", "code"], registry=registry
        )
        self.alerts = Counter(
            "aiops_ingest_alerts", "Alerts stored on alerts.raw by outcome", ["outcome"], registry=registry
        )
        self.pending = Gauge(
            "aiops_consumer_pending", "Messages not yet delivered to a stage", ["consumer"], registry=registry
        )
        self.ack_pending = Gauge(
            "aiops_consumer_ack_pending", "Messages a stage holds unacked", ["consumer"], registry=registry
        )
        self.dead_letters = Gauge("aiops_dead_letters_stored", "Messages on alerts.dead", registry=registry)
        # Bound once: every webhook counts both.
        self._stored = self.alerts.labels("stored")
        self._duplicates = self.alerts.labels("duplicate")

    def request(self, path: str, status: int) -> None:
        self.requests.labels(path, str(status)).inc()

    def stored(self, stored: int, duplicates: int) -> None:
        self._stored.inc(stored)
        self._duplicates.inc(duplicates)

    def consumer(self, name: str, pending: int, ack_pending: int) -> None:
        self.pending.labels(name).set(pending)
        self.ack_pending.labels(name).set(ack_pending)
