"""The consumer loop of one stage: pull batches, handle, publish downstream, ack, retry, dead-letter.

Order matters: a result is published with a deterministic ``Nats-Msg-Id`` and its publish
ack awaited *before* the input is acked, so a crash in between makes JetStream redeliver
the input and de-duplicate the second publish.

Each message is handled in a task of its own from its first step to its ack: handlers may
use ``asyncio.timeout`` or libraries with cancel scopes (openai, httpx), which must enter
and exit in the same task. A stage with no I/O to do (rules analysis, nothing to query,
log-only notification) hands over an ``InlineHandler`` instead: the runtime calls it over
a whole fetched batch in one task and pipelines the publishes, as a bare relay would,
because a task and a publish round trip per message then cost more than the work itself.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg

import schemas
from services.runtime._errors import Reject, RetryLater
from services.runtime._metrics import StageMetrics
from services.runtime._publish import PubAck, Publisher
from services.runtime._pull import ContinuousPull
from services.runtime._settings import StageSettings
from services.runtime._tracing import add_trace_context, trace_failure, traced_handling

AsyncHandler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class InlineHandler:
    """A handler that returns without waiting on anything; may raise Reject or RetryLater like any."""

    handle: Callable[[Any], Any]


Handler = AsyncHandler | InlineHandler

# What a stage without I/O takes at once: it holds no task or connection per message.
INLINE_CAPACITY = 256
PUBLISH_TIMEOUT_SECONDS = 10.0

# How many times JetStream has delivered the message being handled (1 on the first try),
# so a handler can report attempts that survive restarts.
delivery: contextvars.ContextVar[int] = contextvars.ContextVar("delivery", default=1)


def output_msg_id(stage: str, message: schemas.RawAlert) -> str:
    """Deterministic per stage and alert; a replay gets its own so the dedup window keeps it."""
    suffix = f":replay:{message.replay.id}" if message.replay is not None else ""
    return f"{stage}:{message.id}{suffix}"


def retry_delay(settings: StageSettings, attempt: int) -> float:
    steps = settings.retry_backoff_seconds or [1.0]
    return steps[min(attempt, len(steps)) - 1]


class Worker:
    def __init__(
        self,
        name: str,
        output_subject: str | None,
        input_type: type[Any],
        settings: StageSettings,
        nc: Client,
        handler: Handler,
        metrics: StageMetrics,
    ) -> None:
        self.name = name
        self.nc = nc
        self.output_subject = output_subject
        self.input_type = input_type
        self.settings = settings
        self.publisher = Publisher(nc)
        self.handler = handler
        self.metrics = metrics
        self.tasks: set[asyncio.Task[None]] = set()
        self.held = 0  # messages fetched and not finished yet
        # A stage without I/O holds no task or connection per message: it takes whole batches.
        inline = isinstance(handler, InlineHandler)
        self.capacity = max(settings.max_in_flight, INLINE_CAPACITY) if inline else settings.max_in_flight
        self.refill_at = self.capacity - max(1, self.capacity // 4)
        self.pull: ContinuousPull | None = None
        self.keep_alive: asyncio.Task[None] | None = None
        # id(msg) -> (msg, when its handling started); one ticker keeps all of them alive.
        self.running: dict[int, tuple[Msg, float]] = {}

    # ---- pulling ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Take messages until ``stop``; then stop asking and hand back what was not started."""
        await self.publisher.start()
        self.pull = pull = ContinuousPull(self.nc, schemas.STREAM, self.name, self.capacity)
        await pull.start()
        # Kept until drain() ends: in-flight work must stay alive through the grace period.
        self.keep_alive = asyncio.create_task(self._keep_alive())
        stopping = asyncio.create_task(stop.wait())
        stopping.add_done_callback(lambda _: pull.interrupt())
        try:
            while not stop.is_set():
                await pull.top_up(self.held)
                batch = pull.take()
                if not batch:
                    await pull.wait(self.held)
                    continue
                self.held += len(batch)
                if isinstance(self.handler, InlineHandler):
                    self._spawn(self._process_batch(batch, self.handler.handle))
                else:
                    for msg in batch:
                        self._spawn(self._process(msg))
        finally:
            stopping.cancel()
            await pull.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, grace: float) -> None:
        if self.tasks:
            logger.info("waiting up to {}s for {} in-flight messages", grace, self.held)
            _, pending = await asyncio.wait(self.tasks, timeout=grace)
            for task in pending:
                task.cancel()
        if self.keep_alive is not None:
            self.keep_alive.cancel()
        await self.publisher.close()

    # ---- handling -----------------------------------------------------------------------------
    async def _process(self, msg: Msg) -> None:
        started = time.monotonic()
        self.running[id(msg)] = (msg, started)
        self.metrics.in_flight.inc()
        try:
            with traced_handling(self.name, msg.headers):
                await self._handle(msg)
        finally:
            self._finish(msg, started)

    def _decode(self, msg: Msg, attempts: int) -> tuple[Any, tuple[str, str] | None]:
        """The message, and why it goes to alerts.dead instead of the handler, if it does."""
        try:
            message = schemas.decode(msg.data, self.input_type)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the decoder follows; retrying cannot help.
            return None, (f"cannot decode {self.input_type.__name__}: {exc}", "decode")
        if attempts > self.settings.max_deliver:
            # Reached only when earlier attempts died with the process (e.g. killed mid-handle).
            return message, ("max deliveries reached", "max_deliver")
        return message, None

    async def _admit(self, msg: Msg) -> tuple[Any, int]:
        """The decoded message and its delivery count; None once it went to alerts.dead instead."""
        attempts = deliveries(msg)
        delivery.set(attempts)
        message, refusal = self._decode(msg, attempts)
        if refusal is None:
            return message, attempts
        bound = logger.contextualize(alert_id=message.id) if message is not None else contextlib.nullcontext()
        with bound:
            await self._dead_letter(msg, *refusal, attempts)
        return None, attempts

    def _headers(self, result: Any) -> dict[str, str]:
        return add_trace_context({schemas.MSG_ID_HEADER: output_msg_id(self.name, result)})

    async def _handle(self, msg: Msg) -> None:
        message, attempts = await self._admit(msg)
        if message is None:
            return
        assert not isinstance(self.handler, InlineHandler)
        with logger.contextualize(alert_id=message.id):
            try:
                result = await self.handler(message)
                if result is not None and self.output_subject is not None:
                    await self.publisher.publish_and_wait(
                        self.output_subject,
                        schemas.encode(result),
                        self._headers(result),
                        PUBLISH_TIMEOUT_SECONDS,
                    )
                await msg.ack()
                self.metrics.ok.inc()
            except Exception as exc:
                await self._failed(msg, exc, attempts)

    async def _process_batch(self, messages: list[Msg], handle: Callable[[Any], Any]) -> None:
        """Handle a batch inline, publish every result, wait for the publish acks once, then ack."""
        published: list[tuple[Msg, str, int, asyncio.Future[PubAck] | None, float]] = []
        observe = self.metrics.handler_seconds.observe
        self.metrics.in_flight.inc(len(messages))
        try:
            for msg in messages:
                started = time.monotonic()
                self.running[id(msg)] = (msg, started)
                with traced_handling(self.name, msg.headers):
                    message, attempts = await self._admit(msg)
                    if message is None:
                        continue
                    with logger.contextualize(alert_id=message.id):
                        try:
                            result = handle(message)
                            future = None
                            if result is not None and self.output_subject is not None:
                                future = await self.publisher.publish(
                                    self.output_subject, schemas.encode(result), self._headers(result)
                                )
                        except Exception as exc:
                            await self._failed(msg, exc, attempts)
                            continue
                published.append((msg, message.id, attempts, future, started))
            futures = [future for *_, future, _ in published if future is not None]
            # Whatever is not acknowledged in time is nak'ed below and comes back.
            answers = iter(await self.publisher.wait_all(futures, PUBLISH_TIMEOUT_SECONDS))
            acked = 0
            for msg, alert_id, attempts, future, started in published:
                answer = None if future is None else next(answers)
                if not isinstance(answer, BaseException):
                    try:
                        await msg.ack()
                    except Exception as exc:
                        # Published already: the redelivery after ack_wait is de-duplicated downstream.
                        logger.warning("cannot ack ({}); it comes back after ack_wait", type(exc).__name__)
                        continue
                    acked += 1
                    observe(time.monotonic() - started)
                else:
                    with logger.contextualize(alert_id=alert_id):
                        await self._failed(msg, answer, attempts)
            self.metrics.ok.inc(acked)
        finally:
            # Also when cancelled at shutdown: what was not acked comes back after ack_wait.
            for msg in messages:
                self.running.pop(id(msg), None)
            self.metrics.in_flight.dec(len(messages))
            self._release(len(messages))

    def _finish(self, msg: Msg, started: float) -> None:
        del self.running[id(msg)]
        self.metrics.in_flight.dec()
        self.metrics.handler_seconds.observe(time.monotonic() - started)
        self._release(1)

    def _release(self, count: int) -> None:
        self.held -= count
        if self.held <= self.refill_at and self.pull is not None:
            self.pull.interrupt()

    # ---- failures -----------------------------------------------------------------------------
    async def _failed(self, msg: Msg, exc: BaseException, attempts: int) -> None:
        if isinstance(exc, Reject):
            await self._dead_letter(msg, exc.reason, exc.error_type, attempts)
            return
        if isinstance(exc, RetryLater):
            reason, error_type, delay = exc.reason, exc.error_type, exc.delay
        else:
            reason, error_type, delay = f"{type(exc).__name__}: {exc}", type(exc).__name__, None
        if attempts >= self.settings.max_deliver:
            await self._dead_letter(msg, f"gave up after {attempts} attempts: {reason}", error_type, attempts)
            return
        delay = retry_delay(self.settings, attempts) if delay is None else delay
        trace_failure(reason)
        logger.warning("attempt {} failed, retrying in {:.1f}s: {}", attempts, delay, reason)
        self.metrics.retry.inc()
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str, error_type: str, attempts: int) -> None:
        trace_failure(reason)
        try:
            text, encoding = msg.data.decode(), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(msg.data).decode(), "base64"
        seq = msg.metadata.sequence.stream
        letter = schemas.DeadLetter(
            subject=msg.subject,
            stage=self.name,
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
            await self.publisher.publish_and_wait(
                schemas.DEAD,
                schemas.encode(letter),
                add_trace_context({schemas.MSG_ID_HEADER: f"dead:{self.name}:{seq}"}),
                PUBLISH_TIMEOUT_SECONDS,
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


def deliveries(msg: Msg) -> int:
    """JetStream's delivery count, read from the ack subject without parsing all of its metadata."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
        return int(tokens[4])
    return int(msg.metadata.num_delivered)
