"""The console's routes: pages, sign-in, and the plug-in routes of feedback (services.console._feedback,
which also registers Slack's interactivity endpoint) with one call.

Every page is rendered on the server from the history (services.history), escaped (_html.py);
when the database is down the pages say so in a banner and show what arrived while the console ran.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from nats.aio.client import Client
from prometheus_client import CollectorRegistry, Counter, Gauge

import schemas
from services.console import _feedback as feedback
from services.console._access import SESSION_COOKIE, Access
from services.console._api import add_api_routes
from services.console._detail import alert_page, incident_page
from services.console._filters import Filters
from services.console._guard import Endpoint, Guard, browser_id, current_user
from services.console._html import Frame, login_page
from services.console._index import index_page
from services.console._live import LiveHub, Recent
from services.console._settings import ConsoleSettings
from services.console._short_ids import alert_ids_starting, choices_page
from services.console._similar import SHOWN, similar_section
from services.console._slack_actions import SlackActionSettings
from services.console._stats import stats_days, stats_page
from services.console._store import HistoryHandle
from services.history import AlertRow, Known, Page, recall
from services.notifier import LinkSettings
from services.runtime import add_health_routes, nats_readiness

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 256 * 1024
# The incidents whose titles a live row may need when the console starts: the open ones, and those updated
# since (a related alert reopens a resolved incident within INCIDENT_REOPEN_SECONDS, 30 min by default).
TITLES_SINCE = timedelta(days=1)


def _local_path(target: str) -> str:
    """Where to go after signing in: a path of this site only, never another host."""
    parts = urlsplit(target)
    return target if target.startswith("/") and not target.startswith("//") and not parts.netloc else "/"


class Console:
    def __init__(
        self,
        settings: ConsoleSettings,
        nc: Client,
        registry: CollectorRegistry,
        store: HistoryHandle | None = None,
    ) -> None:
        self.settings = settings
        self.nc = nc
        self.registry = registry
        self.access = Access(settings)
        self.guard = Guard(self.access)
        self.store = store or HistoryHandle(settings.database_url)
        self.recent = Recent(settings.console_live_buffer)
        self.live = LiveHub(self.recent, self._incident_titles)
        self.links = LinkSettings(
            settings.grafana_url, settings.grafana_datasource_uid, settings.alertmanager_url
        )
        self.requests = Counter(
            "console_requests_total",
            "Console requests by route and status",
            ["path", "status"],
            registry=registry,
        )
        live = Gauge("console_live_clients", "Pages following the live stream", registry=registry)
        live.set_function(lambda: len(self.live.clients))

    async def _incident_titles(self) -> dict[str, str] | None:
        """Of the incidents still open or updated in the last day, at most as many as the live buffer."""
        since = datetime.now(UTC) - TITLES_SINCE
        return await self.store.ask(lambda h: h.incident_titles(since, self.recent.size))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.count, self.guard.middleware], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/", self.index)
        app.router.add_get("/alerts/{id}", self.alert)
        app.router.add_get("/incidents/{id}", self.incident)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/login", self.login_form)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_static("/static", STATIC)
        add_api_routes(app, self)
        feedback.add_routes(
            app,
            feedback.FeedbackDeps(
                nc=self.nc,
                history=lambda: self.store.current,
                author=lambda request: current_user(request).name,
                allowed=lambda request: current_user(request).can_give_feedback,
                slack_signing_secret=SlackActionSettings.of(self.settings).slack_signing_secret,
            ),
        )
        add_health_routes(app, self.registry, nats_readiness(self.nc))
        return app

    @web.middleware
    async def count(self, request: web.Request, handler: Endpoint) -> web.StreamResponse:
        status = 500  # unless the handler answers
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            self.requests.labels(resource.canonical if resource else "other", str(status)).inc()

    def frame(self, request: web.Request) -> Frame:
        user = current_user(request)
        return Frame(
            user=user.name,
            csrf=self.access.csrf_token(user.name, browser_id(request)),
            can_give_feedback=user.can_give_feedback,
            banner=self.store.problem,
            signed_in_by_form=SESSION_COOKIE in request.cookies,
        )

    async def index(self, request: web.Request) -> web.Response:
        f = Filters.parse(request.query)
        # A page of older alerts shows them alone, and a page of older incidents them alone.
        show_alerts, show_incidents = not f.incidents_before, not f.before
        alerts = incidents = None
        if show_alerts:
            alerts = await self.store.ask(lambda h: h.alerts(f.alert_query()))
        if show_incidents and (alerts is not None or not show_alerts):
            query = f.incident_query(before=f.incidents_before)
            incidents = await self.store.ask(lambda h: h.incidents(query))
        if (show_alerts and alerts is None) or (show_incidents and incidents is None):
            # The database is down: what arrived while the console ran, which holds no older page.
            nothing_older: Page[Any] = Page(items=[])
            alerts = (nothing_older if f.paging else self.recent.alert_page(f)) if show_alerts else None
            incidents = (
                (nothing_older if f.paging else self.recent.incident_page(f)) if show_incidents else None
            )
        return _html(index_page(self.frame(request), f, alerts, incidents))

    async def alert(self, request: web.Request) -> web.Response:
        alert_id = request.match_info["id"]
        message = await self.store.ask(lambda h: h.alert(alert_id)) or self.recent.alerts.get(alert_id)
        if message is None:
            ids = await alert_ids_starting(self.store, self.recent, alert_id)
            if len(ids) == 1:
                raise web.HTTPFound(f"/alerts/{ids[0]}")
            if ids:
                return _html(choices_page(self.frame(request), alert_id, ids), 300)
            raise web.HTTPNotFound(text=f"no analysed alert {alert_id[:100]}")
        verdict = await self.store.ask(lambda h: h.feedback_for(alert_id))
        seen_before = await self._seen_before(message)
        return _html(alert_page(self.frame(request), message, verdict, self.links, seen_before))

    async def incident(self, request: web.Request) -> web.Response:
        incident_id = request.match_info["id"]
        event = await self.store.ask(lambda h: h.incident(incident_id)) or self.recent.incidents.get(
            incident_id
        )
        if event is None:
            raise web.HTTPNotFound(text=f"no incident {incident_id[:100]}")
        alerts = await self.store.ask(lambda h: h.incident_alerts(incident_id)) or []
        held = await self.members_held(event.incident, alerts)
        verdict = await self.store.ask(lambda h: h.feedback_for(incident_id))
        root = event.incident.root
        root_message = await self.store.ask(lambda h: h.alert(root.alert_id)) if root is not None else None
        seen_before = await self._seen_before(root_message) if root_message is not None else ""
        return _html(incident_page(self.frame(request), event, alerts, held, verdict, seen_before))

    async def members_held(self, incident: schemas.Incident, alerts: list[AlertRow]) -> Known:
        """What the history holds of the incident's members, which its counts come from (the page's and
        the API's); without the database, only what the event and the listed ``alerts`` say."""
        known = await self.store.ask(lambda h: h.members_known([incident]))
        return known[incident.id] if known is not None else Known(alerts=len(alerts))

    async def _seen_before(self, message: schemas.EnrichedAlert) -> str:
        """Similar past alerts with the causes people confirmed; nothing when history cannot say."""
        memory = await self.store.ask(lambda h: recall(h, message, limit=SHOWN))
        return similar_section(memory) if memory is not None else ""

    async def stats(self, request: web.Request) -> web.Response:
        days = stats_days(request.query.get("days", ""))
        stats = await self.store.ask(lambda h: h.stats(days))
        noisy = await self.store.ask(lambda h: h.noisiest(days))
        return _html(stats_page(self.frame(request), days, stats, noisy))

    async def login_form(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        if not self.access.login_form:
            raise web.HTTPSeeOther("/")
        next_path = _local_path(request.query.get("next", "/"))
        csrf = self.access.csrf_token("", browser_id(request))
        page = login_page(
            error,
            next_path,
            csrf,
            token=bool(self.settings.console_auth_token),
            users=bool(self.settings.console_basic_auth),
        )
        return _html(page, status)

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        field = {k: v for k, v in form.items() if isinstance(v, str)}
        if not self.access.csrf_valid(field.get("csrf_token", ""), "", browser_id(request)):
            return await self.login_form(request, "The form expired: sign in again.", 403)
        name = ""
        if field.get("token") and self.access.token_matches(field["token"]):
            name = "token"
        elif field.get("user") and self.access.password_matches(field["user"], field.get("password", "")):
            name = field["user"]
        if not name:
            return await self.login_form(request, "Wrong user, password or token.", 401)
        response = web.Response(status=303, headers={"Location": _local_path(field.get("next", "/"))})
        response.set_cookie(
            SESSION_COOKIE,
            self.access.session_cookie(name),
            httponly=True,
            samesite="Strict",
            path="/",
            max_age=int(self.settings.console_session_hours * 3600),
            secure=request.secure,
        )
        return response

    async def logout(self, _: web.Request) -> web.Response:
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response


def _html(page: str, status: int = 200) -> web.Response:
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
