"""Memory in the console: the past alerts most like this one, with what people said caused them.

``GET /api/alerts/{id}/similar`` and ``GET /api/incidents/{id}/similar`` (an incident by its root alert)
answer JSON; ``similar_section`` renders the same for a page (every value escaped). Both come from
``services.history.recall`` (docs/feedback.md); without a history they answer 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

import schemas
from services.console._html import esc, when

if TYPE_CHECKING:
    from services.console._feedback import FeedbackDeps
    from services.history import History, Memory

SHOWN = 5


def similar_json(memory: Memory) -> dict[str, Any]:
    return {
        "fired_this_week": memory.fired_this_week,
        "line": memory.line,
        "similar": [
            {
                "id": r.past.id,
                "alertname": r.past.alertname,
                "received_at": r.past.received_at.isoformat(),
                "same_family": r.same_family,
                "similarity": r.similarity,
                "judged": r.standing,
                "category": r.category,
                "cause": r.cause,
                "fix": r.fix,
                "incident_id": r.past.incident_id,
            }
            for r in memory.recalled
        ],
    }


def similar_section(memory: Memory) -> str:
    """The "Seen before" section of an alert page; "" when history remembers nothing like it."""
    if not memory.recalled and not memory.line:
        return ""
    rows = "".join(
        f'<tr><td><a href="/alerts/{esc(r.past.id)}">{esc(r.past.alertname)}</a></td>'
        f"<td>{when(r.past.received_at)}</td><td>{esc(r.category)}</td><td>{esc(r.cause)}</td>"
        f"<td>{esc(r.fix)}</td><td>{esc(r.standing)}</td><td>{r.similarity:.2f}</td></tr>"
        for r in memory.recalled
    )
    table = (
        '<div class="scroll"><table><thead><tr><th>alert</th><th>when</th><th>category</th><th>cause</th>'
        "<th>fix</th>"
        f"<th>judged</th><th>similarity</th></tr></thead><tbody>{rows}</tbody></table></div>"
        if rows
        else ""
    )
    line = f"<p>{esc(memory.line)}</p>" if memory.line else ""
    return f'<section class="similar"><h2>Seen before</h2>{line}{table}</section>'


async def _root_alert(history: History, kind: str, target_id: str) -> schemas.EnrichedAlert | None:
    if kind == "alerts":
        return await history.alert(target_id)
    event = await history.incident(target_id)
    root = event.incident.root if event is not None else None
    return await history.alert(root.alert_id) if root is not None else None


def add_routes(app: web.Application, deps: FeedbackDeps) -> None:
    from services.history import recall

    async def similar(request: web.Request) -> web.Response:
        history = deps.history()
        if history is None:
            return web.json_response({"error": "history is unavailable"}, status=503)
        kind, target_id = request.match_info["kind"], request.match_info["id"]
        try:
            message = await _root_alert(history, kind, target_id)
            if message is None:
                return web.json_response(
                    {"error": f"no {kind[:-1]} {target_id[:100]} in history"}, status=404
                )
            memory = await recall(history, message, limit=SHOWN)
        except Exception as exc:  # the database went away between two questions
            return web.json_response({"error": f"history is unavailable: {type(exc).__name__}"}, status=503)
        return web.json_response(similar_json(memory))

    app.router.add_get("/api/{kind:alerts|incidents}/{id}/similar", similar)
