"""Enriched alerts as the enricher publishes them, built in a line for correlation tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

import schemas

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def enriched(
    alertname: str,
    *,
    at: float = 0.0,
    summary: str = "",
    expr: str = "",
    logs: tuple[str, ...] = (),
    metrics: list[dict[str, Any]] | None = None,
    group: dict[str, Any] | None = None,
    status: schemas.AlertStatus = "firing",
    labels: Mapping[str, str] | None = None,
    **more_labels: str,
) -> schemas.EnrichedAlert:
    """One firing alert ``at`` seconds after T0, its labels given as keyword arguments and, for labels
    held in a mapping (which could hold a name such as ``at`` or ``status``), as ``labels``."""
    starts = T0 + timedelta(seconds=at)
    alert = schemas.Alert(
        status=status,
        labels={"alertname": alertname, **(labels or {}), **more_labels},
        annotations={"summary": summary} if summary else {},
        starts_at=starts,
        generator_url=f"http://prometheus:9090/graph?g0.expr={expr}" if expr else "",
    )
    templates = [
        {"template": line, "count": 3, "severity": "error", "first": starts, "last": starts, "sample": line}
        for line in logs
    ]
    evidence = {
        "metrics": metrics or [],
        "logs": {"query": "{}", "lines": 3 * len(logs), "templates": templates} if logs else None,
    }
    return schemas.EnrichedAlert(
        id=schemas.alert_id(alert),
        alert=alert,
        group=msgspec.convert(group or {}, schemas.GroupContext),
        received_at=starts,
        enriched_at=starts,
        evidence=msgspec.convert(evidence, schemas.Evidence),
    )


def pod_info(pod: str, node: str, namespace: str, host_ip: str = "") -> dict[str, Any]:
    """A ``kube_pod_info`` metric of the evidence, placing ``pod`` on ``node``."""
    labels = {"pod": pod, "node": node, "namespace": namespace}
    if host_ip:
        labels["host_ip"] = host_ip
    series = {"labels": labels, "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1}
    return {"name": "pod placement", "query": f'kube_pod_info{{pod="{pod}"}}', "series": [series]}
