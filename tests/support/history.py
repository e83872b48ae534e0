"""Messages for history tests and benchmarks: analyses, incident events and verdicts, built in code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

import schemas

if TYPE_CHECKING:
    import pytest

    from services.history import History

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


def pods_storm(
    incident_id: str, pods: int, resolved: Sequence[int], resolved_id_from: int
) -> tuple[list[schemas.AnalyzedAlert], list[schemas.AnalyzedAlert], schemas.IncidentEvent]:
    """A storm of ``pods`` pods not ready, started half an hour before T0, whose pods numbered
    ``resolved`` resolved an hour after it (their ids from ``resolved_id_from``), and its incident's
    event as the analyst sends it for a storm that large: every member firing, the first 50 listed,
    the root (the last pod) first."""
    started = T0 - timedelta(minutes=30)
    firing = [
        analyzed(
            n,
            alertname="KubePodNotReady",
            labels={"pod": f"p{n}"},
            starts_at=started,
            incident_id=incident_id,
        )
        for n in range(1, pods + 1)
    ]
    ended = [
        analyzed(
            resolved_id_from + n,
            alertname="KubePodNotReady",
            labels={"pod": f"p{n}"},
            status="resolved",
            starts_at=started,
            ends_at=T0 + timedelta(hours=1),
            incident_id=incident_id,
        )
        for n in resolved
    ]
    event = incident_event(incident_id, 2, members=[firing[-1], *firing[:49]])
    incident = event.incident
    event = msgspec.structs.replace(
        event, incident=msgspec.structs.replace(incident, member_count=pods, firing_count=pods)
    )
    return firing, ended, event


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


def queries_asked(history: History, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement ``history`` sends from now on, in order (for a test of how many it takes)."""
    asked: list[str] = []
    fetch = history.db.fetch

    async def counted(sql: str, params: Any = ()) -> Any:
        asked.append(sql)
        return await fetch(sql, params)

    monkeypatch.setattr(history.db, "fetch", counted)
    return asked
