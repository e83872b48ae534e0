"""The ingest HTTP service: Alertmanager's webhook in, one ``alerts.raw`` message per alert out.

It answers 200 only once JetStream acknowledged every alert of the request, so an
alert Alertmanager was told about is never lost; 5xx makes Alertmanager retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from loguru import logger
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry, Counter, Gauge

import schemas
from services.ingest._auth import Authenticator
from services.ingest._guard import AnalyzeGuard
from services.ingest._parse import BadRequest, parse_manual, parse_webhook
from services.ingest._settings import IngestSettings
from services.ingest._waiters import AnalysisWaiters
from services.privacy import configured_redactor
from services.runtime import (
    CONSUMERS,
    PubAck,
    Publisher,
    add_health_routes,
    add_trace_context,
    trace_http_status,
    traced_request,
)

JSON_TYPES = ("application/json", "text/json")


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _too_many(retry_after: float) -> web.Response:
    seconds = max(1, math.ceil(retry_after))
    return web.json_response(
        {"error": f"too many /analyze calls from this client: retry in {seconds} s"},
        status=429,
        headers={"Retry-After": str(seconds)},
    )


class Unavailable(Exception):
    """JetStream did not acknowledge in time; the sender should retry (503)."""


class Ingest:
    def __init__(self, settings: IngestSettings, nc: Client, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.auth = Authenticator(settings.ingest_auth_token, settings.ingest_basic_auth)
        self.guard = AnalyzeGuard(settings, self.auth)
        self.redactor = configured_redactor(settings.redact_patterns)
        self.waiters = AnalysisWaiters()
        self.publisher = Publisher(nc)
        self.registry = registry
        self.requests = Counter(
            "aiops_ingest_requests", "HTTP requests by path and status", ["path", "code"], registry=registry
        )
        self.alerts = Counter(
            "aiops_ingest_alerts", "Alerts stored on alerts.raw by outcome", ["outcome"], registry=registry
        )
        self.pending = Gauge(
            "aiops_consumer_pending", "Messages not yet delivered to a stage", ["consumer"], registry=registry
        )
        self.ack_pending = Gauge(
            "aiops_consumer_ack_pending", "Messages a stage holds unacked", ["consumer"], registry=registry
        )
        self.dead_letters = Gauge("aiops_dead_letters_stored", "Messages on alerts.dead", registry=registry)

    # ---- middleware -------------------------------------------------------------------------------
    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.match_info.route.resource.canonical if request.match_info.route.resource else "other"
        try:
            if request.method == "POST" and not self.auth.allows(request.headers.get("Authorization")):
                response: web.StreamResponse = web.json_response(
                    {"error": "missing or wrong credentials"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="aiops"'},
                )
            else:
                with traced_request(request.method, path, request.headers) as span:
                    response = await handler(request)
                    trace_http_status(span, response.status, response.status >= 500)
        except web.HTTPRequestEntityTooLarge:
            response = _error(413, f"body larger than {self.settings.ingest_max_body_bytes} bytes")
        except web.HTTPException as exc:
            response = _error(exc.status, exc.reason)
        self.requests.labels(path, str(response.status)).inc()
        return response

    async def _body(self, request: web.Request) -> bytes:
        content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise BadRequestStatus(415, f"unsupported Content-Type {content_type!r}: send application/json")
        if (request.content_length or 0) > self.settings.ingest_max_body_bytes:
            raise BadRequestStatus(413, f"body larger than {self.settings.ingest_max_body_bytes} bytes")
        try:
            return await asyncio.wait_for(request.read(), timeout=self.settings.ingest_body_timeout_seconds)
        except TimeoutError as exc:
            raise BadRequestStatus(408, "request body not received in time") from exc

    # ---- publishing -------------------------------------------------------------------------------
    async def publish(self, messages: list[schemas.RawAlert]) -> int:
        """Store every message; returns how many JetStream already had. Raises Unavailable."""
        if not self.nc.is_connected:
            raise Unavailable("not connected to NATS")
        futures: list[asyncio.Future[PubAck]] = []
        trace = add_trace_context({})  # the request's span is the parent of every alert's handling downstream
        try:
            for m in messages:
                payload = schemas.encode(m)
                headers = {schemas.MSG_ID_HEADER: m.id}
                if trace:
                    headers.update(trace)
                futures.append(await self.publisher.publish(schemas.RAW, payload, headers))
        except Exception as exc:
            for future in futures:
                future.cancel()  # given up on: the publisher forgets them
            raise Unavailable(f"JetStream did not acknowledge: {type(exc).__name__}") from exc
        acks = await self.publisher.wait_all(futures, self.settings.ingest_publish_timeout_seconds)
        failed = next((ack for ack in acks if isinstance(ack, BaseException)), None)
        if failed is not None:
            raise Unavailable(f"JetStream did not acknowledge: {type(failed).__name__}")
        duplicates = sum(1 for ack in acks if isinstance(ack, PubAck) and ack.duplicate)
        self.alerts.labels("stored").inc(len(acks) - duplicates)
        self.alerts.labels("duplicate").inc(duplicates)
        return duplicates

    # ---- handlers ---------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        try:
            messages = parse_webhook(await self._body(request), redactor=self.redactor)
            duplicates = await self.publish(messages)
        except BadRequestStatus as exc:
            return _error(exc.status, exc.reason)
        except BadRequest as exc:
            logger.warning("rejected webhook: {}", exc.reason[:300])
            return _error(400, exc.reason)
        except Unavailable as exc:
            logger.error("webhook not stored, sender will retry: {}", exc)
            return _error(503, str(exc))
        ids = [m.id for m in messages]
        logger.info("stored {} alert(s) ({} already known): {}", len(ids), duplicates, ",".join(ids[:5]))
        return web.json_response({"accepted": len(ids), "duplicates": duplicates, "ids": ids})

    async def analyze(self, request: web.Request) -> web.Response:
        if refusal := self.guard.refusal():
            return _error(403, refusal)
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            return _error(400, "wait must be a number of seconds")
        wait = max(0.0, min(wait, self.settings.analyze_max_wait_seconds))
        try:
            message = parse_manual(await self._body(request), redactor=self.redactor)
        except BadRequestStatus as exc:
            return _error(exc.status, exc.reason)
        except BadRequest as exc:
            return _error(400, exc.reason)
        # Counted once the alert is valid: only what would reach the LLM spends the caller's budget.
        if (retry := self.guard.retry_after(request.headers.get("Authorization"), request.remote)) > 0:
            return _too_many(retry)
        try:
            answer = await self.waiters.expect(message.id) if wait > 0 else None
            await self.publish([message])
            if answer is not None:
                with contextlib.suppress(TimeoutError):
                    body = await asyncio.wait_for(answer, timeout=wait)
                    return web.Response(body=body, content_type="application/json")
        except Unavailable as exc:
            return _error(503, str(exc))
        finally:
            if wait > 0:
                await self.waiters.forget(message.id)
        return web.json_response({"id": message.id, "status": "accepted"}, status=202)

    async def queue_status(self, _: web.Request) -> web.Response:
        status = await self.collect_queue_status()
        code = 200 if "error" not in status else 503
        return web.json_response(status, status=code)

    async def collect_queue_status(self) -> dict[str, Any]:
        started = time.perf_counter()
        consumers: dict[str, Any] = {}
        if not self.nc.is_connected:
            return {"error": "NATS unavailable: not connected", "consumers": consumers}
        try:
            for name in CONSUMERS:
                try:
                    info = await self.js.consumer_info(schemas.STREAM, name, timeout=2)
                except NotFoundError:
                    consumers[name] = {"error": "not created yet (the stage has never started)"}
                    continue
                consumers[name] = {
                    "pending": info.num_pending,
                    "ack_pending": info.num_ack_pending,
                    "redelivered": info.num_redelivered,
                }
                self.pending.labels(name).set(info.num_pending or 0)
                self.ack_pending.labels(name).set(info.num_ack_pending or 0)
            stream = await self.js.stream_info(schemas.STREAM, subjects_filter=schemas.DEAD)
            dead = (stream.state.subjects or {}).get(schemas.DEAD, 0)
            self.dead_letters.set(dead)
        except NotFoundError:
            return {"error": f"stream {schemas.STREAM} missing: start any stage or ingest to create it"}
        except Exception as exc:
            return {"error": f"NATS unavailable: {type(exc).__name__}", "consumers": consumers}
        return {
            "consumers": consumers,
            "dead_letters": dead,
            "stream_messages": stream.state.messages,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    async def readiness(self) -> str | None:
        if not self.nc.is_connected:
            return "not connected to NATS"
        try:
            await asyncio.wait_for(self.js.stream_info(schemas.STREAM), timeout=2)
        except Exception as exc:
            return f"stream {schemas.STREAM} unavailable: {type(exc).__name__}"
        return None

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self.middleware], client_max_size=self.settings.ingest_max_body_bytes
        )
        app.router.add_post("/webhook/alertmanager", self.webhook)
        # The original design's path, kept so existing Alertmanager configs keep working.
        app.router.add_post("/webhook/alerts", self.webhook)
        app.router.add_post("/analyze", self.analyze)
        app.router.add_get("/queue/status", self.queue_status)
        add_health_routes(app, self.registry, self.readiness)
        return app


class BadRequestStatus(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
