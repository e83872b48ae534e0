"""A stage's life: connect, provision, build the handler, serve health, run the worker, shut down."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
from aiohttp import web
from loguru import logger
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.runtime._backlog import Backlog
from services.runtime._config import load_or_exit, masked, masked_changes
from services.runtime._errors import CONFIG_ERROR_EXIT, ConfigError, Stopped
from services.runtime._http import add_health_routes, nats_readiness, start_http
from services.runtime._jetstream import close_connection, connect, provision
from services.runtime._logging import configure_logging
from services.runtime._metrics import StageMetrics
from services.runtime._priority import yield_cpu
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
    backlogs: dict[str, Backlog] = field(default_factory=dict)

    def backlog(self, stage: str) -> Backlog:
        """How far behind its input the process's stage ``stage`` is (kept by its worker)."""
        return self.backlogs.setdefault(stage, Backlog())

    def on_close(self, closer: Callable[[], Awaitable[Any]]) -> None:
        self.closers.append(closer)


@dataclass(frozen=True)
class StageSpec(Generic[In, S]):
    """A stage: its consumer and subjects, and ``build``, which returns its one ``Handler``
    (``inline=True`` when, as configured, its ``handle`` waits on nothing: see ``_worker``).

    ``companions`` are further consumers the same process serves with the same settings, connection,
    health endpoint and metrics (the analyst's incident reviews beside its alerts); each is a stage
    of its own in every other respect: its durable consumer (``name``), its retries, its dead letters.
    ``build`` returning None switches a companion off in this configuration.
    """

    name: str
    input_subject: str
    input_type: type[Any]
    output_subject: str | None
    build: Callable[[S, Runtime], Awaitable[Handler | None]]
    companions: tuple[StageSpec[Any, Any], ...] = ()


def current_delivery() -> int:
    """How many times JetStream delivered the message being handled (1 on the first try)."""
    return delivery.get()


async def serve_stage(
    spec: StageSpec[Any, Any],
    settings: StageSettings,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[int] | None = None,
    built: Callable[[], None] | None = None,
) -> None:
    """Run one stage until ``stop`` is set; ``started`` receives the health port once serving,
    ``built`` is called once the handlers are built, before the first message."""
    stop = stop or asyncio.Event()
    nc = await connect(settings, f"aiops-{spec.name}", stop=stop)
    js = nc.jetstream()
    runtime = Runtime(nc=nc, js=js, registry=CollectorRegistry())
    http_runner: web.AppRunner | None = None
    try:
        await provision(js, settings, stop)
        workers = []
        for part in (spec, *spec.companions):
            handler = await part.build(settings, runtime)
            if handler is None:
                continue
            metrics = StageMetrics(runtime.registry, part.name)
            workers.append(
                Worker(
                    part.name,
                    part.output_subject,
                    part.input_type,
                    settings,
                    nc,
                    handler,
                    metrics,
                    runtime.backlog(part.name),
                )
            )
            logger.info("{} consuming {}", part.name, part.input_subject)
        if built is not None:
            built()

        app = web.Application()
        add_health_routes(app, runtime.registry, nats_readiness(nc))
        http_runner, port = await start_http(app, settings.health_host, settings.health_port)
        logger.info("{} serving health on {}:{}", spec.name, settings.health_host, port)
        if started is not None and not started.done():
            started.set_result(port)
        await asyncio.gather(*(worker.run(stop) for worker in workers))
        await asyncio.gather(*(worker.drain(settings.shutdown_grace_seconds) for worker in workers))
    finally:
        for closer in reversed(runtime.closers):
            with contextlib.suppress(Exception):
                await closer()
        if http_runner is not None:
            await http_runner.cleanup()
        await close_connection(nc)
        logger.info("{} stopped", spec.name)


# Young objects allowed before the cyclic collector runs (Python's default: 700). A flooded stage
# decodes each message into dozens of containers, in no cycle, that live until their batch is done: at
# the default the collector ran every few messages and scanned each waiting batch again. 22,000 alerts
# with incidents on: the analyst collected 3,900 times, 2.1-2.5 s of its 12-13 s of CPU; at 20,000,
# 240 times, 0.4 s. 40,000 alerts, alternated: 0.42 and 0.47 s at 20,000, 0.24 and 0.20 s at 100,000.
# The young generation then holds up to about 20 MB, mostly live anyway, and one pass over it takes
# about 13 ms (2-3 ms at 20,000): nothing waits on a stage for that long. Refcounting frees nearly
# everything; what cycles leave waits for the next run.
YOUNG_OBJECTS_PER_COLLECTION = 100_000


def _freeze() -> None:
    """What exists now lives as long as the process: frozen, the garbage collector's full collections
    no longer scan it each time (gc.freeze's documented use)."""
    gc.collect()
    gc.freeze()


def run_service(name: str, settings: NatsSettings, serve: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """A service process: its priority, tracing and logs set up, settings shown (secrets masked), serve
    until SIGTERM."""
    refused = yield_cpu(settings.process_nice)  # before any thread of its own starts: they inherit it
    setup_tracing(name)
    configure_logging(name, settings.log_level, settings.log_format)
    # The settings given, not all of them: a line a person reads, not two thousand characters.
    changed = masked_changes(settings)
    others = len(msgspec.structs.fields(settings)) - len(changed)
    logger.info("starting with {} ({} other settings at their defaults: --help)", changed, others)
    logger.debug("every setting: {}", masked(settings))
    if refused:
        logger.warning("{}", refused)
    _freeze()  # modules, the tracing SDK when on
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])

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
    except ConfigError as exc:
        # Known only once connected (a pack, a source's URL, a port taken): exits as a bad setting
        # read at start does, one line and CONFIG_ERROR_EXIT, which a supervisor tells from a crash.
        print(f"python -m services.{name}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from exc


def run_stage(spec: StageSpec[Any, Any], settings: StageSettings) -> None:
    # Frozen once built too: the rules, catalogue, packs and topology the handlers loaded.
    run_service(spec.name, settings, lambda stop: serve_stage(spec, settings, stop=stop, built=_freeze))


def stage_main(spec: StageSpec[Any, Any], settings_type: type[StageSettings], summary: str) -> None:
    """``python -m services.<stage>``: settings from the environment (``--help`` lists them), then run."""
    program = f"python -m services.{spec.name}"
    run_stage(spec, load_or_exit(settings_type, sys.argv[1:], program, summary))
