"""Alertmanager webhooks of many distinct alerts, for load: the fault suite, the soak and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

ALERTS_PER_WEBHOOK = 10


def webhook(run: str, first: int, count: int = ALERTS_PER_WEBHOOK) -> bytes:
    """One grouped webhook of ``count`` distinct firing alerts, numbered from ``first``."""
    starts = _starts()
    alerts = [
        _firing(
            run,
            n,
            starts,
            {
                "alertname": "HighCPUUsage",
                "instance": f"node-{n}:9100",
                "job": "node-exporter",
                "severity": "warning",
            },
            {"summary": f"High CPU usage on node-{n}", "description": "CPU above 90% for 5m"},
            "node_load1",
        )
        for n in range(first, first + count)
    ]
    return _grouped(run, first, alerts)


def storm_webhook(run: str, first: int, count: int = ALERTS_PER_WEBHOOK, per_cause: int = 100) -> bytes:
    """Like ``webhook``, but the alerts are storms: every ``per_cause`` of them a node NotReady, then
    the pods on it not ready (each storm's in one namespace, the storms over seven); grouping makes
    one incident of each."""
    starts = _starts()
    alerts = []
    for n in range(first, first + count):
        cause, member = divmod(n, per_cause)
        node = f"node-{run}-{cause}"
        if member == 0:
            labels = {"alertname": "KubeNodeNotReady", "node": node, "severity": "critical"}
            summary = f"Node {node} is not ready"
        else:
            labels = {
                "alertname": "KubePodNotReady",
                "namespace": f"team-{cause % 7}",
                "pod": f"app-{cause}-{member}",
                "node": node,
                "severity": "warning",
            }
            summary = f"Pod app-{cause}-{member} on {node} has been in a non-ready state for 15 minutes"
        labels["job"] = "kube-state-metrics"
        alerts.append(_firing(run, n, starts, labels, {"summary": summary}, "kube_node_status_condition"))
    return _grouped(run, first, alerts)


def _starts() -> str:
    """Three minutes ago, as Alertmanager writes it."""
    return (datetime.now(UTC) - timedelta(minutes=3)).isoformat().replace("+00:00", "Z")


def _firing(
    run: str, n: int, starts: str, labels: dict[str, str], annotations: dict[str, str], expr: str
) -> dict[str, object]:
    """Alert ``n`` of run ``run``, firing since ``starts``."""
    return {
        "status": "firing",
        "labels": {**labels, "run": run},
        "annotations": annotations,
        "startsAt": starts,
        "generatorURL": f"http://prometheus:9090/graph?g0.expr={expr}",
        "fingerprint": f"{run}-{n:08d}",
    }


def _grouped(run: str, first: int, alerts: list[dict[str, object]]) -> bytes:
    group = {"receiver": "aiops", "status": "firing", "version": "4", "groupKey": f"{run}/{first}"}
    return orjson.dumps({**group, "alerts": alerts})
