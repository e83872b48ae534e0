"""What every message says about an incident, worked out once: title, root, counts, changes.

An incident shown by a kind that knows only alerts (Teams, Opsgenie, Jira, PagerDuty, the log,
and the routes) is shown as one alert: ``as_alert``. Its labels are the incident's scope, severity
and root alert name plus ``incident=<id>``; its fingerprint is the incident id, so PagerDuty's
``dedup_key`` and Jira's issue stay one per incident through every event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import schemas
from services.notifier._view import SEVERITY_ICON, AlertView

# Alert names listed in a message; the others are counted in one line.
MAX_NAMES = 10
# Changes a person needs to see where a message cannot be edited (an incoming webhook).
IMPORTANT_CHANGES = frozenset({"root", "severity", "reopened"})


def name_counts(alertnames: dict[str, int], limit: int = MAX_NAMES) -> list[str]:
    """``KubePodNotReady: 40`` lines, most frequent first, then one line for the rest."""
    ranked = sorted(alertnames.items(), key=lambda item: (-item[1], item[0]))
    lines = [f"{name}: {count}" for name, count in ranked[:limit] if count > 0]
    rest = [count for _, count in ranked[limit:] if count > 0]
    if rest:
        lines.append(f"… and {sum(rest)} more of {len(rest)} other alert names")
    return lines


def new_counts(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Members per alert name that joined since ``before`` was told."""
    return {name: count - before.get(name, 0) for name, count in now.items() if count > before.get(name, 0)}


def needs_post(changes: Iterable[str], root_refined: bool = False) -> bool:
    """Whether an update is worth a new message where the first cannot be edited: a new root (one
    about another subject, not the same one said more precisely), severity up, reopened."""
    wanted = IMPORTANT_CHANGES - {"root"} if root_refined else IMPORTANT_CHANGES
    return not wanted.isdisjoint(changes)


def important(event: schemas.IncidentEvent) -> bool:
    return needs_post(event.changes, event.root_refined)


def member_line(member: schemas.IncidentMember) -> str:
    labels = member.labels
    where = next(
        (labels[k] for k in ("node", "pod", "instance", "service", "namespace") if labels.get(k)), ""
    )
    return f"{member.alertname} on {where}" if where else member.alertname


@dataclass(frozen=True)
class IncidentView:
    event: schemas.IncidentEvent

    @property
    def incident(self) -> schemas.Incident:
        return self.event.incident

    @property
    def resolved(self) -> bool:
        return self.incident.status == "resolved"

    @property
    def severity(self) -> str:
        return (self.incident.severity or "none").lower()

    @property
    def icon(self) -> str:
        return "✅" if self.resolved else SEVERITY_ICON.get(self.severity, "🔔")

    @property
    def state(self) -> str:
        return "RESOLVED" if self.resolved else ("REOPENED" if "reopened" in self.event.changes else "OPEN")

    @property
    def headline(self) -> str:
        replay = f" · REPLAY {self.event.replay.id}" if self.event.replay is not None else ""
        graded = f"{self.icon} {self.incident.severity.upper()}" if self.incident.severity else self.icon
        return f"{graded} · {self.incident.title} · {self.state}{replay}"

    @property
    def members_text(self) -> str:
        i = self.incident
        alerts = f"{i.member_count} alert{'s' if i.member_count != 1 else ''}"
        if self.resolved or not i.firing_count:
            return alerts
        return (
            f"{alerts}, all firing"
            if i.firing_count >= i.member_count
            else f"{alerts}, {i.firing_count} firing"
        )

    @property
    def root_text(self) -> str:
        root = self.incident.root
        return member_line(root) if root is not None else ""

    @property
    def lasted_text(self) -> str:
        i = self.incident
        end = i.resolved_at or i.updated_at
        return schemas.duration(max((end - i.opened_at).total_seconds(), 0.0))

    def change_lines(self) -> list[str]:
        """What an ``updated`` event changed, in words."""
        i, lines = self.incident, []
        for change in self.event.changes:
            if change == "root" and i.root is not None:
                lines.append(f"root is now {self.root_text}")
            elif change == "severity":
                lines.append(f"severity raised to {self.severity}")
            elif change == "reopened":
                lines.append("reopened: a member fired again")
            elif change == "analysis" and i.analysis is not None:
                lines.append(f"analysis: {i.analysis.summary}")
        return lines


def _analysis(v: IncidentView) -> schemas.Analysis:
    found = v.incident.analysis
    heads = [f"root alert: {v.root_text}"] if v.root_text else []
    heads.append(f"{v.members_text}: " + ", ".join(name_counts(v.incident.alertnames, 5)))
    if found is None:
        return schemas.Analysis(
            summary=f"{v.incident.title} ({v.members_text})",
            root_cause="Not analysed yet.",
            category="unknown",
            confidence=0.0,
            analyzer="rules",
            evidence=heads,
        )
    return schemas.Analysis(
        **{f: getattr(found, f) for f in found.__struct_fields__ if f not in ("summary", "evidence")},
        summary=f"{found.summary} ({v.members_text})",
        evidence=[*heads, *found.evidence],
    )


def as_alert(event: schemas.IncidentEvent) -> AlertView:
    """The incident as one alert, for kinds and routes that know only alerts."""
    v, i = IncidentView(event), event.incident
    labels = {**i.scope, "alertname": i.root.alertname if i.root else i.title, "incident": i.id}
    if i.severity:
        labels["severity"] = i.severity
    alert = schemas.Alert(
        status="resolved" if v.resolved else "firing",
        labels=labels,
        annotations={"summary": i.title, "description": ", ".join(name_counts(i.alertnames))},
        starts_at=i.opened_at,
        ends_at=i.resolved_at if v.resolved else None,
        fingerprint=i.id,
    )
    message = schemas.AnalyzedAlert(
        id=i.id,
        alert=alert,
        received_at=event.sent_at,
        enriched_at=event.sent_at,
        analysis=_analysis(v),
        analyzed_at=event.sent_at,
        replay=event.replay,
    )
    # No links: a silence or a graph of these made-up labels would match no real alert.
    return AlertView(message=message, links=())
