"""Messages for history tests and benchmarks: analyses, incident events and verdicts, built in code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import schemas

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def analyzed(
    n: int = 0,
    *,
    alertname: str = "HighCPU",
    status: schemas.AlertStatus = "firing",
    at: datetime | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    category: schemas.Category = "cpu_saturation",
    summary: str = "",
    analyzer: schemas.Analyzer = "rules",
    degraded: bool = False,
    incident_id: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    **analysis: Any,
) -> schemas.AnalyzedAlert:
    """The ``n``-th analysis: received ``n`` seconds after T0 unless ``at`` says when."""
    received = at or T0 + timedelta(seconds=n)
    alert_labels = {"alertname": alertname, "severity": "warning", "namespace": "shop", "service": "checkout"}
    alert_labels.update(labels or {})
    starts = starts_at or received - timedelta(seconds=30)
    alert = schemas.Alert(
        status=status,
        labels=alert_labels,
        annotations=annotations or {"summary": f"{alertname} on checkout"},
        starts_at=starts,
        ends_at=ends_at,
        fingerprint=f"fp-{alertname}-{alert_labels.get('pod', '')}",
    )
    return schemas.AnalyzedAlert(
        id=f"a{n:07d}" if status == "firing" else f"r{n:07d}",
        alert=alert,
        received_at=received,
        enriched_at=received,
        analyzed_at=received,
        analysis=schemas.Analysis(
            summary=summary or f"{alertname}: checkout CPU at 97%",
            root_cause="a busy loop in the checkout pod",
            category=category,
            confidence=0.8,
            analyzer=analyzer,
            degraded=degraded,
            **analysis,
        ),
        incident=schemas.IncidentRef(id=incident_id, role="root") if incident_id else None,
    )


def incident_event(
    incident_id: str = "inc-1",
    sequence: int = 1,
    *,
    status: schemas.IncidentStatus = "open",
    title: str = "checkout degraded",
    at: datetime | None = None,
    opened_at: datetime | None = None,
    resolved_at: datetime | None = None,
    category: schemas.Category = "cpu_saturation",
    members: Sequence[schemas.AnalyzedAlert] = (),
) -> schemas.IncidentEvent:
    """``members``: the alerts it lists, each with its status (counted so); else ``sequence`` members,
    every one firing and none listed."""
    updated = at or T0 + timedelta(seconds=sequence)
    listed = [
        schemas.IncidentMember(
            alert_id=m.id,
            alertname=m.alert.labels.get("alertname", ""),
            status=m.alert.status,
            starts_at=m.alert.starts_at,
            role="root" if n == 0 else "related",
        )
        for n, m in enumerate(members)
    ]
    firing = sum(m.status == "firing" for m in listed) if members else sequence
    kind: schemas.IncidentEventKind = (
        "opened" if sequence == 1 else "resolved" if status == "resolved" else "updated"
    )
    return schemas.IncidentEvent(
        event=kind,
        sequence=sequence,
        incident=schemas.Incident(
            id=incident_id,
            status=status,
            title=title,
            severity="critical",
            opened_at=opened_at or T0,
            updated_at=updated,
            resolved_at=resolved_at,
            scope={"namespace": "shop"},
            members=listed,
            member_count=len(listed) or sequence,
            firing_count=firing,
            alertnames={"HighCPU": sequence},
            analysis=schemas.Analysis(
                summary=f"{title} (event {sequence})",
                root_cause="a busy loop",
                category=category,
                confidence=0.7,
                analyzer="rules",
            ),
        ),
        sent_at=updated,
    )


def verdict(
    target_id: str,
    *,
    verdict: schemas.Verdict = "confirmed",
    category: str = "cpu_saturation",
    corrected: schemas.Category | None = None,
    at: datetime | None = None,
    target: schemas.FeedbackTarget = "alert",
) -> schemas.Feedback:
    given = at or T0 + timedelta(minutes=5)
    return schemas.Feedback(
        id=f"fb-{target_id}-{given.timestamp()}",
        target=target,
        target_id=target_id,
        verdict=verdict,
        category=category,
        corrected_category=corrected,
        actual_cause="the cache was cold" if corrected else "",
        author="ana",
        channel="api",
        given_at=given,
    )
