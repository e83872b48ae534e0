"""The one consumer loop every stage runs: pull, decode, handle, publish, ack.

Order matters: the result is published with a deterministic ``Nats-Msg-Id`` and
its publish ack awaited *before* the input is acked, so a crash in between
makes JetStream redeliver the input and de-duplicate the second publish.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
import nats.errors
from aiohttp import web
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.runtime._errors import Reject, RetryLater
from services.runtime._http import add_health_routes, start_http
from services.runtime._jetstream import close_connection, connect, provision
from services.runtime._logging import configure_logging
from services.runtime._metrics import StageMetrics
from services.runtime._settings import StageSettings

In = TypeVar("In", bound=schemas.RawAlert)
S = TypeVar("S", bound=StageSettings)
Handler = Callable[[Any], Awaitable[Any]]

# How many times JetStream has delivered the message being handled (1 on the first try),
# so a handler can report attempts that survive restarts.
_delivery: contextvars.ContextVar[int] = contextvars.ContextVar("delivery", default=1)


def current_delivery() -> int:
    return _delivery.get()


IDLE_FETCH_SECONDS = 2.0
BUSY_FETCH_SECONDS = 0.05
MAX_FETCH_BATCH = 256


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
    name: str
    input_subject: str
    input_type: type[In]
    output_subject: str | None
    build: Callable[[S, Runtime], Awaitable[Handler]]


def output_msg_id(stage: str, message: schemas.RawAlert) -> str:
    """Deterministic per stage and alert; a replay gets its own so the dedup window keeps it."""
    suffix = f":replay:{message.replay.id}" if message.replay is not None else ""
    return f"{stage}:{message.id}{suffix}"


def retry_delay(settings: StageSettings, attempt: int) -> float:
    steps = settings.retry_backoff_seconds or [1.0]
    return steps[min(attempt, len(steps)) - 1]


class _Worker:
    def __init__(
        self, spec: StageSpec[Any, Any], settings: StageSettings, runtime: Runtime, handler: Handler
    ):
        self.spec = spec
        self.settings = settings
        self.runtime = runtime
        self.handler = handler
        self.metrics = StageMetrics(runtime.registry, spec.name)
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots_free = asyncio.Event()
        # When full, fetch again once a quarter of the slots are free: one pull per batch, not per message.
        self.refill_at = settings.max_in_flight - max(1, settings.max_in_flight // 4)
        # id(message) -> (message, when its handler started); one ticker keeps all of them alive.
        self.running: dict[int, tuple[Msg, float]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        sub = await self._subscribe()
        keep_alive = asyncio.create_task(self._keep_alive())
        try:
            await self._fetch_loop(sub, stop)
        finally:
            keep_alive.cancel()

    async def _fetch_loop(self, sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        busy, failures = False, 0
        while not stop.is_set():
            free = self.settings.max_in_flight - len(self.tasks)
            if free <= 0:
                self.slots_free.clear()
                await self.slots_free.wait()
                continue
            try:
                if busy:
                    messages = await sub.fetch(min(free, MAX_FETCH_BATCH), timeout=BUSY_FETCH_SECONDS)
                else:
                    # One message wakes an idle stage at once; a batch would wait to fill.
                    messages = await sub.fetch(1, timeout=IDLE_FETCH_SECONDS)
                failures = 0
            except (TimeoutError, nats.errors.TimeoutError):
                busy = False
                continue
            except Exception as exc:
                failures += 1
                logger.warning("fetch failed ({}): {}", failures, type(exc).__name__)
                await asyncio.sleep(min(0.2 * failures, 2.0))
                if failures % 5 == 0 and not stop.is_set():
                    # nats-py pull subscriptions can stall after reconnects; start afresh.
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    with contextlib.suppress(Exception):
                        sub = await self._subscribe()
                continue
            busy = True
            for msg in messages:
                task = asyncio.create_task(self._process(msg))
                self.tasks.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if len(self.tasks) <= self.refill_at:
            self.slots_free.set()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        return await self.runtime.js.pull_subscribe_bind(
            durable=self.spec.name, stream=schemas.STREAM, inbox_prefix=b"_INBOX."
        )

    async def drain(self, grace: float) -> None:
        if not self.tasks:
            return
        logger.info("waiting up to {}s for {} in-flight messages", grace, len(self.tasks))
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        for task in pending:
            task.cancel()

    async def _process(self, msg: Msg) -> None:
        started = time.monotonic()
        self.running[id(msg)] = (msg, started)
        self.metrics.in_flight.inc()
        try:
            await self._handle_one(msg)
        finally:
            del self.running[id(msg)]
            self.metrics.in_flight.dec()
            self.metrics.handler_seconds.observe(time.monotonic() - started)

    async def _handle_one(self, msg: Msg) -> None:
        attempts = msg.metadata.num_delivered
        _delivery.set(attempts)
        try:
            message = schemas.decode(msg.data, self.spec.input_type)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(
                msg, f"cannot decode {self.spec.input_type.__name__}: {exc}", "decode", attempts
            )
            return
        with logger.contextualize(alert_id=message.id):
            if attempts > self.settings.max_deliver:
                # Reached only when earlier attempts died with the process (e.g. killed mid-handle).
                await self._dead_letter(msg, "max deliveries reached", "max_deliver", attempts)
                return
            try:
                result = await self.handler(message)
                if result is not None and self.spec.output_subject is not None:
                    await self.runtime.js.publish(
                        self.spec.output_subject,
                        schemas.encode(result),
                        headers={schemas.MSG_ID_HEADER: output_msg_id(self.spec.name, result)},
                    )
                await msg.ack()
                self.metrics.ok.inc()
            except Reject as exc:
                await self._dead_letter(msg, exc.reason, exc.error_type, attempts)
            except Exception as exc:
                await self._retry_or_dead_letter(msg, exc, attempts)

    async def _retry_or_dead_letter(self, msg: Msg, exc: Exception, attempts: int) -> None:
        if isinstance(exc, RetryLater):
            reason, error_type, delay = exc.reason, exc.error_type, exc.delay
        else:
            reason, error_type, delay = f"{type(exc).__name__}: {exc}", type(exc).__name__, None
        if attempts >= self.settings.max_deliver:
            await self._dead_letter(msg, f"gave up after {attempts} attempts: {reason}", error_type, attempts)
            return
        delay = retry_delay(self.settings, attempts) if delay is None else delay
        logger.warning("attempt {} failed, retrying in {:.1f}s: {}", attempts, delay, reason)
        self.metrics.retry.inc()
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str, error_type: str, attempts: int) -> None:
        try:
            text, encoding = msg.data.decode(), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(msg.data).decode(), "base64"
        seq = msg.metadata.sequence.stream
        letter = schemas.DeadLetter(
            subject=msg.subject,
            stage=self.spec.name,
            error=reason,
            error_type=error_type,
            attempts=attempts,
            failed_at=datetime.now(UTC),
            payload=text,
            payload_encoding=encoding,  # type: ignore[arg-type]
            msg_id=(msg.headers or {}).get(schemas.MSG_ID_HEADER, ""),
            stream_seq=seq,
        )
        try:
            await self.runtime.js.publish(
                schemas.DEAD,
                schemas.encode(letter),
                headers={schemas.MSG_ID_HEADER: f"dead:{self.spec.name}:{seq}"},
            )
        except Exception as exc:
            # Not recorded anywhere yet, so it must not be terminated: let it come back.
            logger.error("cannot dead-letter ({}); message will be redelivered", type(exc).__name__)
            with contextlib.suppress(Exception):
                await msg.nak(delay=retry_delay(self.settings, attempts))
            return
        logger.error("dead-lettered after {} attempt(s): {}", attempts, reason)
        self.metrics.dead(error_type)
        with contextlib.suppress(Exception):
            await msg.term()

    async def _keep_alive(self) -> None:
        # Long handlers (an LLM call) must not be redelivered while still running.
        interval = max(self.settings.ack_wait_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval / 2)
            now = time.monotonic()
            for msg, started in list(self.running.values()):
                if now - started >= interval / 2:
                    with contextlib.suppress(Exception):
                        await msg.in_progress()


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
        worker = _Worker(spec, settings, runtime, handler)

        async def readiness() -> str | None:
            if not nc.is_connected:
                return "not connected to NATS"
            try:
                await js.stream_info(schemas.STREAM)
            except Exception as exc:
                return f"stream {schemas.STREAM} unavailable: {type(exc).__name__}"
            return None

        app = web.Application()
        add_health_routes(app, runtime.registry, readiness)
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


def run_stage(spec: StageSpec[Any, Any], settings: StageSettings) -> None:
    """Process entry point: logs configured, settings shown (secrets masked), SIGTERM handled."""
    from services.runtime._config import masked

    configure_logging(spec.name, settings.log_level, settings.log_format)
    logger.info("starting with {}", masked(settings))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_stage(spec, settings, stop=stop)

    asyncio.run(main())
