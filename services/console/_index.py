"""``/``: the filter form, the incidents and the alerts, newest first; live rows arrive on top."""

from __future__ import annotations

import schemas
from services.console._filters import ANALYZERS, RANGES, STATUSES, Filters
from services.console._html import Frame, esc, layout, query_string
from services.console._rows import ALERT_HEADINGS, INCIDENT_HEADINGS, alert_tr, incident_tr, table
from services.history import AlertRow, IncidentRow, Page

SEVERITIES = ("critical", "error", "high", "warning", "info")


def _select(name: str, label: str, options: tuple[str, ...], chosen: str) -> str:
    items = ['<option value="">any</option>'] + [
        f'<option value="{esc(o)}"{" selected" if o == chosen else ""}>{esc(o)}</option>' for o in options
    ]
    return f'<label>{esc(label)} <select name="{esc(name)}">{"".join(items)}</select></label>'


def _text(name: str, label: str, value: str, kind: str = "text") -> str:
    return f'<label>{esc(label)} <input type="{kind}" name="{esc(name)}" value="{esc(value)}"></label>'


def filter_form(f: Filters) -> str:
    return (
        '<form class="filters" method="get" action="/">'
        + _text("q", "Search", f.q, "search")
        + _select("range", "Time", tuple(RANGES), f.range)
        + _text("since", "Since", f.since)
        + _text("until", "Until", f.until)
        + _select("severity", "Severity", SEVERITIES, f.severity)
        + _select("category", "Category", schemas.CATEGORIES, f.category)
        + _text("service", "Service", f.service)
        + _text("namespace", "Namespace", f.namespace)
        + _select("status", "Status", STATUSES, f.status)
        + _select("analyzer", "Analyzer", ANALYZERS, f.analyzer)
        + _select("degraded", "Degraded", ("yes", "no"), f.degraded)
        + '<button type="submit">Filter</button> <a href="/">Clear</a></form>'
    )


def index_page(
    frame: Frame, f: Filters, alerts: Page[AlertRow] | None, incidents: Page[IncidentRow] | None
) -> str:
    live = "/api/stream" + query_string(f.params())
    parts = [filter_form(f)]
    if not f.paging:
        parts.append('<p class="live-state" id="live-state">Live updates: connecting…</p>')
    if incidents is not None and (incidents.items or not f.params() or f.incidents_before):
        parts.append("<h2>Incidents</h2>")
        parts.append(table(INCIDENT_HEADINGS, "incidents-body", [incident_tr(r) for r in incidents.items]))
        if incidents.next_cursor:
            older = {**f.params(), "incidents_before": incidents.next_cursor}
            parts.append(f'<p><a rel="next" href="/{esc(query_string(older))}">Older incidents →</a></p>')
    if alerts is not None:
        parts.append("<h2>Alerts</h2>")
        parts.append(table(ALERT_HEADINGS, "alerts-body", [alert_tr(r) for r in alerts.items]))
        if not alerts.items:
            parts.append('<p class="empty" id="alerts-empty">No analysed alerts match.</p>')
        if alerts.next_cursor:
            older = {**f.params(), "before": alerts.next_cursor}
            parts.append(f'<p><a rel="next" href="/{esc(query_string(older))}">Older alerts →</a></p>')
    return layout("Alerts", frame, "".join(parts), live_url="" if f.paging else live)
