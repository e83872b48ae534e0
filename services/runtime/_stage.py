"""A stage's life: connect, provision, build the handler, serve health, run the worker, shut down."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from loguru import logger
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.runtime._config import load_or_exit, masked
from services.runtime._errors import Stopped
from services.runtime._http import add_health_routes, nats_readiness, start_http
from services.runtime._jetstream import close_connection, connect, provision
from services.runtime._logging import configure_logging
from services.runtime._metrics import StageMetrics
from services.runtime._settings import NatsSettings, StageSettings
from services.runtime._tracing import setup_tracing
from services.runtime._worker import Handler, Worker, delivery

In = TypeVar("In", bound=schemas.RawAlert)
S = TypeVar("S", bound=StageSettings)


@dataclass
class Runtime:
    """What a stage's ``build`` gets: live connections and a place for its own metrics."""

    nc: Client
    js: JetStreamContext
    registry: CollectorRegistry
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], Awaitable[Any]]) -> None:
        self.closers.append(closer)


@dataclass(frozen=True)
class StageSpec(Generic[In, S]):
    """A stage: its consumer and subjects, and ``build``, which returns its one ``Handler``
    (``inline=True`` when, as configured, its ``handle`` waits on nothing: see ``_worker``)."""

    name: str
    input_subject: str
    input_type: type[In]
    output_subject: str | None
    build: Callable[[S, Runtime], Awaitable[Handler]]


def current_delivery() -> int:
    """How many times JetStream delivered the message being handled (1 on the first try)."""
    return delivery.get()


async def serve_stage(
    spec: StageSpec[Any, Any],
    settings: StageSettings,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[int] | None = None,
) -> None:
    """Run one stage until ``stop`` is set; ``started`` receives the health port once serving."""
    stop = stop or asyncio.Event()
    nc = await connect(settings, f"aiops-{spec.name}", stop=stop)
    js = nc.jetstream()
    runtime = Runtime(nc=nc, js=js, registry=CollectorRegistry())
    http_runner: web.AppRunner | None = None
    try:
        await provision(js, settings)
        handler = await spec.build(settings, runtime)
        metrics = StageMetrics(runtime.registry, spec.name)
        worker = Worker(spec.name, spec.output_subject, spec.input_type, settings, nc, handler, metrics)

        app = web.Application()
        add_health_routes(app, runtime.registry, nats_readiness(nc))
        http_runner, port = await start_http(app, settings.health_host, settings.health_port)
        logger.info("{} consuming {} (health on :{})", spec.name, spec.input_subject, port)
        if started is not None and not started.done():
            started.set_result(port)
        await worker.run(stop)
        await worker.drain(settings.shutdown_grace_seconds)
    finally:
        for closer in reversed(runtime.closers):
            with contextlib.suppress(Exception):
                await closer()
        if http_runner is not None:
            await http_runner.cleanup()
        await close_connection(nc)
        logger.info("{} stopped", spec.name)


def run_service(name: str, settings: NatsSettings, serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """A service process: tracing and logs set up, settings shown (secrets masked), serve until SIGTERM."""
    setup_tracing(name)
    configure_logging(name, settings.log_level, settings.log_format)
    logger.info("starting with {}", masked(settings))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(stop)

    try:
        asyncio.run(main())
    except Stopped as exc:
        logger.info("{}", exc)


def run_stage(spec: StageSpec[Any, Any], settings: StageSettings) -> None:
    run_service(spec.name, settings, lambda stop: serve_stage(spec, settings, stop=stop))


def stage_main(spec: StageSpec[Any, Any], settings_type: type[StageSettings], summary: str) -> None:
    """``python -m services.<stage>``: settings from the environment (``--help`` lists them), then run."""
    program = f"python -m services.{spec.name}"
    run_stage(spec, load_or_exit(settings_type, sys.argv[1:], program, summary))
