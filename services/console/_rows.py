"""A list row, from the history or from a message just published: one shape, one rendering.

The live stream converts a message to the history's row type here, so a row that arrives while the
page is open looks exactly like the same row after a reload.
"""

from __future__ import annotations

from datetime import datetime

import schemas
from services.console._html import breakable, esc, when
from services.history import AlertRow, IncidentRow


def alert_row(
    message: schemas.AnalyzedAlert,
    feedback: str = "",
    *,
    ended_at: datetime | None = None,
    incident_title: str = "",
) -> AlertRow:
    """``ended_at``: of a firing alert, when a resolution of its episode says it ended (None: none seen);
    ``incident_title``: its incident's, "" while unknown."""
    labels = message.alert.labels
    analysis = message.analysis
    return AlertRow(
        id=message.id,
        received_at=message.received_at,
        alertname=labels.get("alertname", ""),
        status=message.alert.status,
        severity=labels.get("severity", ""),
        namespace=labels.get("namespace", ""),
        service=schemas.service_of(labels),
        category=analysis.category,
        summary=analysis.summary,
        analyzer=analysis.analyzer,
        degraded=analysis.degraded,
        incident_id=message.incident.id if message.incident else "",
        confidence=analysis.confidence,
        feedback=feedback,
        ended_at=ended_at,
        incident_title=incident_title,
        episode=schemas.episode_key(message.alert),
    )


def ended_at_of(resolution: schemas.AnalyzedAlert) -> datetime:
    """When a resolution says its episode ended: its end, or when it arrived without one (as the history
    reads it, ``ENDED_BY_RESOLUTION``)."""
    return resolution.alert.ends_at or resolution.received_at


def alert_text(message: schemas.AnalyzedAlert) -> str:
    """What free-text search looks in: the alert's name, labels, summary and cause."""
    a = message.alert
    return " ".join(
        [*a.labels.values(), *a.labels.keys(), message.analysis.summary, message.analysis.root_cause]
    )


def incident_row(event: schemas.IncidentEvent, feedback: str = "") -> IncidentRow:
    incident = event.incident
    analysis = incident.analysis
    return IncidentRow(
        id=incident.id,
        sequence=event.sequence,
        status=incident.status,
        title=incident.title,
        severity=incident.severity,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        resolved_at=incident.resolved_at,
        category=analysis.category if analysis else "",
        summary=analysis.summary if analysis else "",
        member_count=incident.member_count,
        firing_count=incident.firing_count,
        llm_calls=incident.llm_calls,
        degraded=incident.degraded,
        feedback=feedback,
    )


def incident_text(event: schemas.IncidentEvent) -> str:
    incident = event.incident
    analysis = incident.analysis
    words = [incident.title, *incident.scope.values(), *incident.alertnames]
    if analysis:
        words += [analysis.summary, analysis.root_cause]
    return " ".join(words)


def _badge(kind: str, value: str) -> str:
    return f'<span class="badge {esc(kind)}-{esc(value.lower())}">{esc(value or "-")}</span>'


def alert_status(status: str, ended_at: datetime | None) -> str:
    """Whether it is still firing: the firing row of an episode whose resolution arrived since says
    resolved (the two are separate rows; the analysis shown is still the firing one's)."""
    if status == "firing" and ended_at is not None:
        return (
            '<span class="badge status-resolved" title="firing when analysed, resolved since">resolved</span>'
            f'<div class="ended">ended {when(ended_at)}</div>'
        )
    return _badge("status", status)


def incident_link(incident_id: str, title: str) -> str:
    """The incident by its title (what it is about), not one word alike on every row of a storm; by its id
    while its title is not known (its alerts are published before it is announced)."""
    if not incident_id:
        return ""
    shown = title or incident_id
    return (
        f'<a class="incident" href="/incidents/{esc(incident_id)}" title="{esc(shown)}">'
        f"{breakable(shown)}</a>"
    )


def alert_tr(row: AlertRow) -> str:
    """The row; ``data-incident``, ``data-episode`` (a firing row's: what its resolution ends) and the
    cell classes let the live page renew a cell (``_live``)."""
    where = " / ".join(v for v in (row.namespace, row.service) if v)
    analyzer = row.analyzer + (" (degraded)" if row.degraded else "")
    incident = f' data-incident="{esc(row.incident_id)}"' if row.incident_id else ""
    episode = f' data-episode="{esc(row.episode)}"' if row.status == "firing" and row.episode else ""
    return (
        f'<tr data-id="{esc(row.id)}"{incident}{episode}><td>{when(row.received_at)}</td>'
        f"<td>{_badge('sev', row.severity)}</td>"
        f'<td class="alert"><a class="name" href="/alerts/{esc(row.id)}">'
        f"{breakable(row.alertname or row.id)}</a></td>"
        f'<td>{esc(where)}</td><td class="status">{alert_status(row.status, row.ended_at)}</td>'
        f"<td>{breakable(row.category)}</td>"
        f'<td class="summary">{esc(row.summary)}</td>'
        f"<td>{esc(analyzer)} {round(row.confidence * 100)}%</td>"
        f'<td class="incident">{incident_link(row.incident_id, row.incident_title)}</td>'
        f"<td>{esc(row.feedback)}</td></tr>"
    )


def firing_of(row: IncidentRow) -> str:
    """Its firing cell: how many of its members still fire, of how many."""
    return f"{row.firing_count}/{row.member_count}"


def incident_tr(row: IncidentRow) -> str:
    """The row; its ``data-id`` and the firing cell's class let the live page renew the count (``_live``)."""
    return (
        f'<tr data-id="{esc(row.id)}"><td>{when(row.updated_at)}</td><td>{_badge("sev", row.severity)}</td>'
        f'<td><a class="name" href="/incidents/{esc(row.id)}">{breakable(row.title or row.id)}</a></td>'
        f'<td>{_badge("status", row.status)}</td><td class="firing">{firing_of(row)}</td>'
        f'<td>{breakable(row.category)}</td><td class="summary">{esc(row.summary)}</td>'
        f"<td>{'degraded' if row.degraded else ''}</td><td>{esc(row.feedback)}</td></tr>"
    )


ALERT_HEADINGS = (
    "Received",
    "Severity",
    "Alert",
    "Namespace / service",
    "Status",
    "Category",
    "Summary",
    "Analyzer, confidence",
    "Incident",
    "Feedback",
)
INCIDENT_HEADINGS = (
    "Updated",
    "Severity",
    "Incident",
    "Status",
    "Firing",
    "Category",
    "Summary",
    "",
    "Feedback",
)


def table(headings: tuple[str, ...], body_id: str, rows: list[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headings)
    return scrolling(
        f'<table class="list"><thead><tr>{head}</tr></thead>'
        f'<tbody id="{esc(body_id)}">{"".join(rows)}</tbody></table>'
    )


def scrolling(table_html: str) -> str:
    """A wide table in a box of its own that scrolls sideways: on a phone the page itself stays as
    wide as the screen (the whole page slid sideways, header and headings with it)."""
    return f'<div class="scroll">{table_html}</div>'
