"""The ingest HTTP service's routes: Alertmanager's webhook and manual alerts in, ``alerts.raw`` out.

Each endpoint is a few lines between a request and its parts: the body (_body.py), parsing and
redaction (_parse.py), the store that answers only once JetStream acknowledged (_store.py), the
``/analyze`` guard (_guard.py) and waiters (_waiters.py). Every refusal is one of _errors.py's,
raised anywhere and answered here once, by the middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from loguru import logger
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from services.ingest._auth import Authenticator
from services.ingest._body import json_body
from services.ingest._errors import (
    AlertTooLarge,
    BadRequest,
    Forbidden,
    Refused,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from services.ingest._guard import AnalyzeGuard
from services.ingest._metrics import IngestMetrics
from services.ingest._parse import parse_manual, parse_webhook
from services.ingest._queue import queue_status
from services.ingest._settings import IngestSettings
from services.ingest._store import AlertStore
from services.ingest._waiters import AnalysisWaiters
from services.privacy import configured_redactor
from services.runtime import add_health_routes, nats_readiness, trace_http_status, traced_request

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answer(refused: Refused) -> web.Response:
    return web.json_response({"error": refused.reason}, status=refused.status, headers=refused.headers)


class Ingest:
    def __init__(self, settings: IngestSettings, nc: Client, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.nc = nc
        self.registry = registry
        self.metrics = IngestMetrics(registry)
        self.auth = Authenticator(settings.ingest_auth_token, settings.ingest_basic_auth)
        self.guard = AnalyzeGuard(settings, self.auth)
        self.redactor = configured_redactor(settings.redact_patterns)
        self.waiters = AnalysisWaiters()
        self.store = AlertStore(nc, self.metrics, settings.ingest_publish_timeout_seconds)

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self.middleware], client_max_size=self.settings.ingest_max_body_bytes
        )
        app.router.add_post("/webhook/alertmanager", self.webhook)
        # The original design's path, kept so existing Alertmanager configs keep working.
        app.router.add_post("/webhook/alerts", self.webhook)
        app.router.add_post("/analyze", self.analyze)
        app.router.add_get("/queue/status", self.queue_status)
        add_health_routes(app, self.registry, nats_readiness(self.nc))
        return app

    @web.middleware
    async def middleware(self, request: web.Request, handler: Endpoint) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource else "other"
        if request.method == "POST" and not self.auth.allows(request.headers.get("Authorization")):
            response: web.StreamResponse = _answer(Unauthorized())
        else:
            with traced_request(request.method, path, request.headers) as span:
                response = await self._served(request, handler)
                trace_http_status(span, response.status, response.status >= 500)
        self.metrics.request(path, response.status)
        return response

    async def _served(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        try:
            return await endpoint(request)
        except Refused as exc:
            return _answer(exc)
        except web.HTTPRequestEntityTooLarge:
            return _answer(TooLarge(self.settings.ingest_max_body_bytes))
        except web.HTTPException as exc:  # aiohttp's own: 404, 405
            return _answer(Refused(exc.reason, status=exc.status))

    async def webhook(self, request: web.Request) -> web.Response:
        try:
            messages = parse_webhook(await json_body(request, self.settings), redactor=self.redactor)
            duplicates = await self.store.store(messages)
        except (BadRequest, AlertTooLarge) as exc:
            logger.warning("rejected webhook: {}", exc.reason[:300])
            raise
        except Unavailable as exc:
            logger.error("webhook not stored, sender will retry: {}", exc)
            raise
        ids = [m.id for m in messages]
        logger.info("stored {} alert(s) ({} already known): {}", len(ids), duplicates, ",".join(ids[:5]))
        return web.json_response({"accepted": len(ids), "duplicates": duplicates, "ids": ids})

    async def analyze(self, request: web.Request) -> web.Response:
        if refusal := self.guard.refusal():
            raise Forbidden(refusal)
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError as exc:
            raise BadRequest("wait must be a number of seconds") from exc
        wait = max(0.0, min(wait, self.settings.analyze_max_wait_seconds))
        message = parse_manual(await json_body(request, self.settings), redactor=self.redactor)
        # Counted once the alert is valid: only what would reach the LLM spends the caller's budget.
        if (retry := self.guard.retry_after(request.headers.get("Authorization"), request.remote)) > 0:
            raise TooManyRequests(retry)
        try:
            answer = await self.waiters.expect(message.id) if wait > 0 else None
            await self.store.store([message])
            if answer is not None:
                with contextlib.suppress(TimeoutError):
                    body = await asyncio.wait_for(answer, timeout=wait)
                    return web.Response(body=body, content_type="application/json")
        finally:
            if wait > 0:
                await self.waiters.forget(message.id)
        return web.json_response({"id": message.id, "status": "accepted"}, status=202)

    async def queue_status(self, _: web.Request) -> web.Response:
        status = await queue_status(self.nc, self.metrics)
        return web.json_response(status, status=503 if "error" in status else 200)
