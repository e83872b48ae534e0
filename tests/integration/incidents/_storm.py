"""A node's storm as the enricher publishes it, and the helpers to feed it to a running analyst."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

import schemas
from services.analyst import AnalystSettings
from tests.support.services import settings_for

NODE = "ip-10-0-1-7"


def enriched(
    alertname: str, starts: datetime, *, status: str = "firing", **labels: str
) -> schemas.EnrichedAlert:
    ends = datetime.now(UTC) if status == "resolved" else None
    alert = schemas.Alert(
        status=status,  # type: ignore[arg-type]
        labels={"alertname": alertname, "cluster": "prod", **labels},
        annotations={"summary": f"{alertname} {' '.join(labels.values())}"},
        starts_at=starts,
        ends_at=ends,
    )
    now = datetime.now(UTC)
    return schemas.EnrichedAlert(id=schemas.alert_id(alert), alert=alert, received_at=now, enriched_at=now)


def distinct(count: int, cluster: str = "prod") -> list[schemas.EnrichedAlert]:
    """Unrelated alerts, as the pipeline benchmark sends them: each opens an incident of its own."""
    now = datetime.now(UTC)
    return [
        enriched("HighCPUUsage", now, instance=f"node-{n}:9100", job="node-exporter", cluster=cluster)
        for n in range(count)
    ]


def node_storm(pods: int, starts: datetime | None = None, node: str = NODE) -> list[schemas.EnrichedAlert]:
    """A node NotReady, then a not-ready alert for each of its pods."""
    starts = starts or datetime.now(UTC)
    down = enriched("KubeNodeNotReady", starts, node=node, severity="critical")
    return [down] + [
        enriched(
            "KubePodNotReady", starts, namespace="shop", pod=f"{node}-web-{n}", node=node, severity="warning"
        )
        for n in range(pods)
    ]


def unrelated(starts: datetime | None = None) -> schemas.EnrichedAlert:
    """An alert that merely fires at the same time: another cluster, another service."""
    return enriched(
        "PaymentsLatencyHigh",
        starts or datetime.now(UTC),
        service="payments",
        severity="warning",
        cluster="eu",
    )


def resolved(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    alert = message.alert
    labels = dict(alert.labels)
    name = labels.pop("alertname")
    return enriched(name, alert.starts_at, status="resolved", **labels)


async def publish(js: JetStreamContext, messages: list[schemas.EnrichedAlert], at_once: int = 1) -> None:
    """In order, ``at_once`` messages awaiting their acks together (a burst, as ingest sends a storm)."""
    for start in range(0, len(messages), at_once):
        await asyncio.gather(
            *(
                js.publish(schemas.ENRICHED, schemas.encode(m), headers={schemas.MSG_ID_HEADER: m.id})
                for m in messages[start : start + at_once]
            )
        )


def incident_settings(nats_url: str, **overrides: Any) -> AnalystSettings:
    values: dict[str, Any] = {
        "incidents_enabled": "true",
        "incident_group_wait_seconds": 1.5,
        "incident_update_seconds": 0.5,
        "incident_resolve_grace_seconds": 0.5,
        "retry_backoff_seconds": "0.2",
        **overrides,
    }
    settings: AnalystSettings = settings_for(AnalystSettings, nats_url, **values)
    return settings


def by_incident(events: list[schemas.IncidentEvent]) -> dict[str, list[schemas.IncidentEvent]]:
    grouped: dict[str, list[schemas.IncidentEvent]] = {}
    for event in events:
        grouped.setdefault(event.incident.id, []).append(event)
    return grouped
