"""The middleware every request passes: who is asking, may they, and the headers every answer carries.

- Health, metrics, static files, the login form and Slack's signed endpoint are open.
- Anyone else is identified (services.console._access) or turned away: 401 for the API, a redirect
  to the login form for pages, 403 when no credentials are configured and the client is not local.
- A POST (the only writes are verdicts, sign-in and sign-out) needs the feedback permission and,
  unless it came with a bearer token, the CSRF token of the page it was made from.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from services.console._access import BROWSER_COOKIE, SESSION_COOKIE, Access, User
from services.console._slack_actions import SLACK_ACTIONS_PATH

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/login", SLACK_ACTIONS_PATH})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
USER_KEY = web.RequestKey("console_user", User)
BROWSER_KEY = web.RequestKey("console_browser", str)
# No script, style or connection from anywhere but the console itself; no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
NO_CREDENTIALS = (
    "The console has no credentials configured (CONSOLE_AUTH_TOKEN, CONSOLE_BASIC_AUTH or"
    " CONSOLE_TRUSTED_PROXIES), so it serves this machine only."
)


def current_user(request: web.Request) -> User:
    return request[USER_KEY]


def browser_id(request: web.Request) -> str:
    return request[BROWSER_KEY]  # set by the middleware on every request


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def _refuse(path: str, status: int, reason: str) -> web.Response:
    if _is_api(path):
        return web.json_response({"error": reason}, status=status)
    return web.Response(text=reason, status=status, content_type="text/plain")


class Guard:
    def __init__(self, access: Access) -> None:
        self.access = access

    def identify(self, request: web.Request) -> User | None:
        return self.access.identify(
            authorization=request.headers.get("Authorization"),
            cookie=request.cookies.get(SESSION_COOKIE),
            forwarded_user=request.headers.get("X-Forwarded-User"),
            remote=request.remote,
        )

    async def csrf_token_of(self, request: web.Request) -> str:
        if token := request.headers.get(CSRF_HEADER):
            return token
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            value = (await request.post()).get(CSRF_FIELD)
            return value if isinstance(value, str) else ""
        return ""

    @web.middleware
    async def middleware(self, request: web.Request, handler: Endpoint) -> web.StreamResponse:
        browser = request.cookies.get(BROWSER_COOKIE, "")
        fresh = not (20 <= len(browser) <= 64 and browser.replace("-", "").replace("_", "").isalnum())
        request[BROWSER_KEY] = secrets.token_urlsafe(24) if fresh else browser
        try:
            response = await self._checked(request, handler)
        except web.HTTPException as exc:  # aiohttp's own answers (404, 405, redirects) get them too
            exc.headers.update(SECURITY_HEADERS)
            raise
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
            if fresh:
                response.set_cookie(
                    BROWSER_COOKIE, request[BROWSER_KEY], httponly=True, samesite="Strict", path="/"
                )
        return response

    async def _checked(self, request: web.Request, handler: Endpoint) -> web.StreamResponse:
        path = request.path
        if path in OPEN_PATHS or path.startswith("/static/"):
            return await handler(request)
        user = self.identify(request)
        if user is None:
            if not self.access.configured:
                return _refuse(path, 403, NO_CREDENTIALS)
            if _is_api(path) or request.method != "GET":
                return _refuse(path, 401, "sign in: a bearer token, basic auth or the login form")
            return web.Response(
                status=303, headers={"Location": "/login?" + urlencode({"next": request.path_qs})}
            )
        request[USER_KEY] = user
        if request.method not in ("GET", "HEAD"):
            if path != "/logout" and not user.can_give_feedback:
                return _refuse(path, 403, f"{user.name} may read but not give feedback")
            if user.ambient and not self.access.csrf_valid(
                await self.csrf_token_of(request), user.name, browser_id(request)
            ):
                return _refuse(path, 403, "missing or stale CSRF token: reload the page and try again")
        return await handler(request)
