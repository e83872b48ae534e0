"""Alertmanager webhooks of many distinct alerts, for load: the fault suite, the soak and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

ALERTS_PER_WEBHOOK = 10


def webhook(run: str, first: int, count: int = ALERTS_PER_WEBHOOK) -> bytes:
    """One grouped webhook of ``count`` distinct firing alerts, numbered from ``first``."""
    starts = (datetime.now(UTC) - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighCPUUsage",
                "instance": f"node-{n}:9100",
                "job": "node-exporter",
                "severity": "warning",
                "run": run,
            },
            "annotations": {"summary": f"High CPU usage on node-{n}", "description": "CPU above 90% for 5m"},
            "startsAt": starts,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=node_load1",
            "fingerprint": f"{run}-{n:08d}",
        }
        for n in range(first, first + count)
    ]
    group = {"receiver": "aiops", "status": "firing", "version": "4", "groupKey": f"{run}/{first}"}
    return orjson.dumps({**group, "alerts": alerts})
