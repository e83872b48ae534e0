"""``/alerts/<id>`` and ``/incidents/<id>``: one alert or incident, its analysis and its evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import schemas
from services.console._charts import timeline_chart
from services.console._evidence import (
    analysis_section,
    errors_section,
    feedback_section,
    logs_section,
    metrics_section,
    pairs_table,
)
from services.console._html import Frame, esc, layout, safe_url, when
from services.console._rows import ALERT_HEADINGS, alert_tr, scrolling, table
from services.history import AlertRow, Known, as_the_history_knows
from services.notifier import LinkSettings, view


def _links(message: schemas.AnalyzedAlert, settings: LinkSettings) -> str:
    links = view(message, settings).links
    if not links:
        return ""
    items = "".join(
        f'<li><a href="{safe_url(link.url)}" rel="noreferrer">{esc(link.text)}</a></li>' for link in links
    )
    return f'<nav class="links"><ul>{items}</ul></nav>'


def alert_page(
    frame: Frame,
    message: schemas.AnalyzedAlert,
    feedback: schemas.Feedback | None,
    links: LinkSettings,
    seen_before: str = "",
) -> str:
    """``seen_before``: the rendered memory of similar past alerts (``_similar.similar_section``)."""
    alert = message.alert
    name = alert.labels.get("alertname", message.id)
    incident = (
        f'<p>Part of <a href="/incidents/{esc(message.incident.id)}">incident {esc(message.incident.id)}</a>'
        f" as {esc(message.incident.role)}</p>"
        if message.incident
        else ""
    )
    ended = f" · ended {when(alert.ends_at)}" if alert.ends_at else ""
    body = (
        f'<h1>{esc(name)} <span class="badge status-{esc(alert.status)}">{esc(alert.status)}</span></h1>'
        f'<p class="meta">Started {when(alert.starts_at)}{ended} · received {when(message.received_at)}'
        f" · analysed {when(message.analyzed_at)} · id <code>{esc(message.id)}</code></p>"
        f"{incident}{_links(message, links)}"
        f"{analysis_section(message.analysis)}{seen_before}"
        f"{metrics_section(message.evidence, alert)}{logs_section(message.evidence)}"
        f"{errors_section(message.evidence)}"
        f"<section><h2>Alert</h2>{pairs_table('Labels', alert.labels)}"
        f"{pairs_table('Annotations', alert.annotations)}</section>"
        f"{feedback_section('alert', message.id, feedback, frame, '/alerts/' + message.id)}"
    )
    return layout(name, frame, body)


def _member_table(members: list[schemas.IncidentMember]) -> str:
    rows = "".join(
        f'<tr><td>{esc(m.role)}</td><td><a href="/alerts/{esc(m.alert_id)}">{esc(m.alertname)}</a></td>'
        f"<td>{esc(m.status)}</td><td>{esc(m.severity)}</td><td>{when(m.starts_at)}</td>"
        f"<td>{esc(', '.join(m.signals))}</td><td>{esc(m.summary)}</td></tr>"
        for m in members
    )
    return scrolling(
        '<table class="list"><thead><tr><th>Role</th><th>Alert</th><th>Status</th><th>Severity</th>'
        f"<th>Started</th><th>Signals</th><th>Summary</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _not_listed(held: int, listed: int) -> str:
    if held <= listed:
        return ""
    shown = f"The first {listed:,} of {held:,} alerts: {held - listed:,} more not listed."
    return f'<p class="not-listed">{shown}</p>'


def incident_page(
    frame: Frame,
    event: schemas.IncidentEvent,
    alerts: list[AlertRow],
    known: Known,
    feedback: schemas.Feedback | None,
    seen_before: str = "",
) -> str:
    """``alerts``: the first of its alert rows (``History.incident_alerts``); ``known``: what the history
    holds of all of them (``History.members_known``), which the counts come from."""
    incident = event.incident
    members, firing = as_the_history_knows(incident, known)
    until = incident.resolved_at or max(incident.updated_at, datetime.now(UTC))
    root = incident.root
    root_line = (
        f'<p>Root alert: <a href="/alerts/{esc(root.alert_id)}">{esc(root.alertname)}</a>'
        f" {esc(root.summary)}</p>"
        if root
        else ""
    )
    counted = ", ".join(f"{name} x{count}" for name, count in sorted(incident.alertnames.items()))
    listed = (
        f" ({incident.member_count - len(incident.members)} more not listed)"
        if incident.member_count > len(incident.members)
        else ""
    )
    body = (
        f'<h1>{esc(incident.title)} <span class="badge status-{esc(incident.status)}">'
        f"{esc(incident.status)}</span></h1>"
        f'<p class="meta">Severity {esc(incident.severity or "-")} · opened {when(incident.opened_at)}'
        f" · updated {when(incident.updated_at)}"
        f"{' · resolved ' + when(incident.resolved_at) if incident.resolved_at else ''}"
        f" · {firing}/{incident.member_count} firing · {incident.llm_calls} LLM calls"
        f"{' · degraded' if incident.degraded else ''}</p>"
        f"{pairs_table('Scope', incident.scope)}{root_line}"
        f"{analysis_section(incident.analysis)}{seen_before}"
        f"<section><h2>Members</h2><p>{esc(counted)}{esc(listed)}</p>"
        f"{timeline_chart(members, until)}{_member_table(members)}</section>"
        f"<section><h2>Its alerts in the history</h2>{_not_listed(known.alerts, len(alerts))}"
        f"{table(ALERT_HEADINGS, 'incident-alerts', [alert_tr(r) for r in alerts])}</section>"
        f"{feedback_section('incident', incident.id, feedback, frame, '/incidents/' + incident.id)}"
    )
    return layout(incident.title, frame, body)
