"""Asking history for memory: the candidates a new alert is compared with, and how often it fired.

A few indexed queries (the alert's name, its service, its namespace; 90 days), then the full message of
at most ``candidates`` of them for their log templates, and the verdicts people gave (on the alert or
on its incident). The ranking itself is _similar.py's.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import schemas
from services.history._rows import AlertQuery, AlertRow
from services.history._similar import WEEK, Memory, Past, family, rank

if TYPE_CHECKING:
    from services.history._queries import History


async def _feedback_of(history: History, row: AlertRow) -> schemas.Feedback | None:
    if row.feedback:
        return await history.feedback_for(row.id)
    if row.incident_id:
        return await history.feedback_for(row.incident_id)
    return None


async def recall(
    history: History,
    message: schemas.EnrichedAlert,
    *,
    limit: int = 3,
    now: datetime | None = None,
    days: int = 90,
    candidates: int = 20,
) -> Memory:
    """Similar past alerts from ``history`` (read only; a few queries, at most ``candidates`` fetched).

    The window ends at ``now``, by default when the alert was received: a replayed or an old alert
    is compared with what came before it, not with today's."""
    now = now or message.received_at
    labels = message.alert.labels
    alertname = labels.get("alertname", "")
    since = now - timedelta(days=days)
    # Before it, not after (the window ended at ``now`` in name only: an alert page opened later
    # recalled the alerts that came after it); the microsecond keeps alerts received with it.
    until = now + timedelta(microseconds=1)
    # Its own incident's alerts are this outage, not memory of another: in a node storm, the other
    # pods of the node filled "Seen before" and pushed out the incidents that were. Left out by the
    # queries, not after them: a storm larger than a query's limit would fill every one.
    incident = getattr(message, "incident", None)
    own = incident.id if incident is not None else ""
    window = AlertQuery(since=since, until=until, status="firing", not_incident_id=own, limit=50)
    queries = [replace(window, text=alertname, limit=200)] if alertname else []
    if service := schemas.service_of(labels):
        queries.append(replace(window, service=service))
    if labels.get("namespace"):
        queries.append(replace(window, namespace=labels["namespace"]))
    rows: dict[str, AlertRow] = {}
    for query in queries:
        for row in (await history.alerts(query)).items:
            rows.setdefault(row.id, row)
    mine = family(alertname)
    episode = schemas.episode_key(message.alert)
    namespace = labels.get("namespace", "")
    fired = sum(
        family(r.alertname) == mine and r.received_at >= now - WEEK and r.namespace == namespace
        for r in rows.values()
        if r.id != message.id
    )
    # Same family first, then reviewed, then newest: the few worth a full fetch.
    chosen = sorted(
        (r for r in rows.values() if r.id != message.id),
        key=lambda r: (family(r.alertname) == mine, bool(r.feedback), r.received_at),
        reverse=True,
    )[:candidates]
    fetched = await asyncio.gather(*(history.alert(r.id) for r in chosen))
    feedback = await asyncio.gather(*(_feedback_of(history, r) for r in chosen))
    pasts = [
        Past.of(full, verdict)
        for full, verdict in zip(fetched, feedback, strict=True)
        if full is not None and schemas.episode_key(full.alert) != episode
    ]
    return Memory(rank(Past.of(message), pasts, limit), fired)
