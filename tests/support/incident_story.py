"""Incident events as the analyst publishes them, for a node that goes down and comes back.

``node_down()`` is the story: ``opened`` with the node and two of its pods, ``updated`` as the
rest of its pods and its scrape targets join, ``updated`` when severity rises, ``resolved``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import schemas

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NODE = "ip-10-0-1-7"
SCOPE = {"cluster": "prod-eu", "node": NODE}


def member(name: str, n: int, *, at: datetime = START, resolved: bool = False) -> schemas.IncidentMember:
    where = {"node": NODE} if name == "NodeNotReady" else {"node": NODE, "pod": f"api-{n}"}
    return schemas.IncidentMember(
        alert_id=f"{name.lower()}-{n:05d}",
        alertname=name,
        status="resolved" if resolved else "firing",
        severity="critical" if name == "NodeNotReady" else "warning",
        starts_at=at,
        ends_at=at + timedelta(minutes=9) if resolved else None,
        labels={**SCOPE, **where},
        role="root" if name == "NodeNotReady" else "caused",
        signals=[] if name == "NodeNotReady" else ["node", "time"],
    )


ANALYSIS = schemas.Analysis(
    summary=f"Node {NODE} is NotReady; its pods and scrape targets fail with it.",
    root_cause=f"The kubelet on {NODE} stopped reporting; every alert of the incident runs on that node.",
    category="availability",
    confidence=0.8,
    evidence=["kube_node_status_condition{condition=Ready} = 0"],
    remediation=[f"kubectl describe node {NODE}", "Drain the node and let the pods reschedule"],
    analyzer="rules",
)


def event(
    kind: schemas.IncidentEventKind,
    sequence: int,
    counts: dict[str, int],
    *,
    changes: list[schemas.IncidentChange],
    severity: str = "critical",
    incident_id: str = "inc-0123456789ab",
    minutes: float = 0,
    root_refined: bool = False,
) -> schemas.IncidentEvent:
    """Event ``sequence`` of an incident whose members are ``counts`` (alert name -> how many)."""
    at = START + timedelta(minutes=minutes)
    resolved = kind == "resolved"
    root = member("NodeNotReady", 0, resolved=resolved)
    others = [
        member(name, n, resolved=resolved)
        for name, count in counts.items()
        if name != "NodeNotReady"
        for n in range(count)
    ]
    listed = [root, *others][: schemas.MAX_LISTED_MEMBERS]
    total = sum(counts.values())
    incident = schemas.Incident(
        id=incident_id,
        status="resolved" if resolved else "open",
        title=f"NodeNotReady on {NODE}",
        severity=severity,
        opened_at=START,
        updated_at=at,
        resolved_at=at if resolved else None,
        scope=SCOPE,
        root=root,
        members=listed,
        member_count=total,
        firing_count=0 if resolved else total,
        alertnames=dict(counts),
        analysis=ANALYSIS,
    )
    return schemas.IncidentEvent(
        event=kind,
        sequence=sequence,
        changes=changes,
        root_refined=root_refined,
        incident=incident,
        sent_at=at,
    )


def node_down(incident_id: str = "inc-0123456789ab") -> list[schemas.IncidentEvent]:
    grown = {"NodeNotReady": 1, "KubePodNotReady": 30, "TargetDown": 6}
    return [
        event(
            "opened",
            1,
            {"NodeNotReady": 1, "KubePodNotReady": 2},
            changes=["opened"],
            severity="warning",
            incident_id=incident_id,
        ),
        event(
            "updated", 2, grown, changes=["members"], severity="warning", incident_id=incident_id, minutes=1
        ),
        event(
            "updated",
            3,
            {**grown, "KubePodNotReady": 34},
            changes=["members", "severity"],
            incident_id=incident_id,
            minutes=2,
        ),
        event(
            "resolved",
            4,
            {**grown, "KubePodNotReady": 34},
            changes=["resolved"],
            incident_id=incident_id,
            minutes=12,
        ),
    ]
