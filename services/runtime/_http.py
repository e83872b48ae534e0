"""/healthz, /readyz and /metrics: the same three endpoints on every service."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable

from aiohttp import web
from nats.aio.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge

import schemas
from services.runtime._errors import ConfigError
from services.runtime._metrics import exposition

ReadinessCheck = Callable[[], Awaitable[str | None]]

READINESS_TIMEOUT_SECONDS = 2.0


def nats_readiness(nc: Client) -> ReadinessCheck:
    """Ready while connected and the stream answers: what every service, stage or ingest, needs to work."""
    js = nc.jetstream()

    async def readiness() -> str | None:
        if not nc.is_connected:
            return "not connected to NATS"
        try:
            await asyncio.wait_for(js.stream_info(schemas.STREAM), timeout=READINESS_TIMEOUT_SECONDS)
        except Exception as exc:
            return f"stream {schemas.STREAM} unavailable: {type(exc).__name__}"
        return None

    return readiness


def add_health_routes(app: web.Application, registry: CollectorRegistry, readiness: ReadinessCheck) -> None:
    """``readiness`` returns None when ready, else the reason it is not."""
    tasks = Gauge(
        "aiops_asyncio_tasks", "asyncio tasks alive in the process (a leak climbs)", registry=registry
    )
    # Read when /metrics is served, on the event loop's thread.
    tasks.set_function(lambda: len(asyncio.all_tasks()))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        reason = await readiness()
        if reason is None:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "reason": reason}, status=503)

    async def metrics(_: web.Request) -> web.Response:
        body = exposition(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def start_http(
    app: web.Application, host: str, port: int, settings: tuple[str, str] = ("HEALTH_HOST", "HEALTH_PORT")
) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner and the port actually bound (port 0 picks one). An address
    it cannot listen on is a ConfigError naming ``settings`` (the host's and the port's variables)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(cannot_listen(host, port, exc, settings)) from exc
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


def cannot_listen(host: str, port: int, exc: OSError, settings: tuple[str, str]) -> str:
    """Why ``host:port`` cannot be listened on, and the variable that changes it."""
    host_setting, port_setting = settings
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{host}:{port} is already in use: stop the process listening there, "
            f"or set {port_setting} to a free port"
        )
    if exc.errno == errno.EACCES:
        return f"{host}:{port}: permission denied (ports below 1024 need privileges); set {port_setting}"
    return f"cannot listen on {host}:{port} ({exc.strerror or exc}); check {host_setting} and {port_setting}"
