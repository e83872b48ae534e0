"""``/api/...``: the console's data as JSON (docs/console.md), and ``/api/stream``, the live rows as
server-sent events. The same filters as the pages; the same answers while the database is down
(``"history": false`` then, and the recent messages only).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from services.console._filters import Filters, whole_number
from services.console._guard import SECURITY_HEADERS, browser_id, current_user
from services.console._live import LiveEvent
from services.console._short_ids import MAX_LISTED, alert_ids_starting, ambiguity
from services.console._stats import stats_days
from services.history import as_the_history_knows

if TYPE_CHECKING:
    from services.console._app import Console

KEEPALIVE_SECONDS = 15.0
MAX_API_LIMIT = 500


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


def _limit(request: web.Request, default: int) -> int:
    asked = whole_number(request.query.get("limit", ""))
    return default if asked is None else min(asked, MAX_API_LIMIT)


def add_api_routes(app: web.Application, console: Console) -> None:
    store, recent = console.store, console.recent

    async def alerts(request: web.Request) -> web.Response:
        f = Filters.parse(request.query)
        page = await store.ask(lambda h: h.alerts(f.alert_query(_limit(request, 50))))
        if page is None:
            return _json({"history": False, **msgspec.to_builtins(recent.alert_page(f, _limit(request, 50)))})
        return _json({"history": True, **msgspec.to_builtins(page)})

    async def incidents(request: web.Request) -> web.Response:
        f = Filters.parse(request.query)
        page = await store.ask(lambda h: h.incidents(f.incident_query(_limit(request, 50), f.before)))
        if page is None:
            return _json(
                {"history": False, **msgspec.to_builtins(recent.incident_page(f, _limit(request, 50)))}
            )
        return _json({"history": True, **msgspec.to_builtins(page)})

    async def alert(request: web.Request) -> web.Response:
        alert_id = request.match_info["id"]
        message = await store.ask(lambda h: h.alert(alert_id)) or recent.alerts.get(alert_id)
        if message is None:
            ids = await alert_ids_starting(store, recent, alert_id)
            if len(ids) > 1:
                return _json({"error": ambiguity(alert_id, ids), "ids": ids[:MAX_LISTED]}, 300)
            if ids:
                alert_id = ids[0]
                message = await store.ask(lambda h: h.alert(alert_id)) or recent.alerts.get(alert_id)
        if message is None:
            return _json({"error": "no such alert"}, 404)
        verdict = await store.ask(lambda h: h.feedback_for(alert_id))
        return _json({"alert": message, "feedback": verdict})

    async def incident(request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        event = await store.ask(lambda h: h.incident(incident_id)) or recent.incidents.get(incident_id)
        if event is None:
            return _json({"error": "no such incident"}, 404)
        members = await store.ask(lambda h: h.incident_alerts(incident_id)) or []
        held = await console.members_held(event.incident, members)
        verdict = await store.ask(lambda h: h.feedback_for(incident_id))
        # The counts its page shows: the event's corrected by the resolutions the history holds, and how
        # many alert rows there are beyond the listed ones.
        firing = as_the_history_knows(event.incident, held)[1]
        counts = {"firing": firing, "alerts_held": held.alerts}
        return _json({"event": event, "alerts": members, **counts, "feedback": verdict})

    async def stats(request: web.Request) -> web.Response:
        days = stats_days(request.query.get("days", ""))
        summary = await store.ask(lambda h: h.stats(days))
        noisy = await store.ask(lambda h: h.noisiest(days, _limit(request, 20)))
        if summary is None or noisy is None:
            return _json({"error": store.problem or "history unavailable"}, 503)
        return _json({"days": days, "stats": summary, "noisiest": noisy})

    async def me(request: web.Request) -> web.Response:
        user = current_user(request)
        csrf = console.access.csrf_token(user.name, browser_id(request))
        return _json({"user": user.name, "can_give_feedback": user.can_give_feedback, "csrf_token": csrf})

    async def stream(request: web.Request) -> web.StreamResponse:
        f = Filters.parse(request.query)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **SECURITY_HEADERS,
            }
        )
        await response.prepare(request)
        queue = console.live.subscribe()
        try:
            await response.write(b": live\n\nretry: 2000\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                if event.matches(f):
                    await response.write(_sse(event))
        except ConnectionResetError:
            pass  # the page was closed
        finally:
            console.live.unsubscribe(queue)
        with contextlib.suppress(Exception):
            await response.write_eof()
        return response

    app.router.add_get("/api/alerts", alerts)
    app.router.add_get("/api/alerts/{id}", alert)
    app.router.add_get("/api/incidents", incidents)
    app.router.add_get("/api/incidents/{id}", incident)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/stream", stream)


def _sse(event: LiveEvent) -> bytes:
    return b"event: " + event.kind.encode() + b"\ndata: " + event.data + b"\n\n"
