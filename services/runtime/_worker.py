"""The consumer loop of one stage: pull batches, handle, publish downstream, ack, retry, dead-letter.

Order matters: a result is published with a deterministic ``Nats-Msg-Id`` and its publish
ack awaited *before* the input is acked, so a crash in between makes JetStream redeliver
the input and de-duplicate the second publish.

Each message is handled in a task of its own from its first step to its ack: handlers may
use ``asyncio.timeout`` or libraries with cancel scopes (openai, httpx), which must enter
and exit in the same task.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats.errors
from loguru import logger
from nats.aio.msg import Msg
from nats.js import JetStreamContext

import schemas
from services.runtime._errors import Reject, RetryLater
from services.runtime._metrics import StageMetrics
from services.runtime._settings import StageSettings

Handler = Callable[[Any], Awaitable[Any]]

IDLE_FETCH_SECONDS = 2.0
BUSY_FETCH_SECONDS = 0.05
MAX_FETCH_BATCH = 256
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
        js: JetStreamContext,
        handler: Handler,
        metrics: StageMetrics,
    ) -> None:
        self.name = name
        self.output_subject = output_subject
        self.input_type = input_type
        self.settings = settings
        self.js = js
        self.handler = handler
        self.metrics = metrics
        self.tasks: set[asyncio.Task[None]] = set()
        self.held = 0  # messages fetched and not finished yet
        self.slots_free = asyncio.Event()
        # When full, fetch again once a quarter of the slots are free: one pull per batch, not per message.
        self.refill_at = settings.max_in_flight - max(1, settings.max_in_flight // 4)
        # id(msg) -> (msg, when its handling started); one ticker keeps all of them alive.
        self.running: dict[int, tuple[Msg, float]] = {}

    # ---- fetching -----------------------------------------------------------------------------
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
            free = self.settings.max_in_flight - self.held
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
            self.held += len(messages)
            for msg in messages:
                self._spawn(self._process(msg))

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        return await self.js.pull_subscribe_bind(
            durable=self.name, stream=schemas.STREAM, inbox_prefix=b"_INBOX."
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, grace: float) -> None:
        if not self.tasks:
            return
        logger.info("waiting up to {}s for {} in-flight messages", grace, self.held)
        _, pending = await asyncio.wait(self.tasks, timeout=grace)
        for task in pending:
            task.cancel()

    # ---- handling -----------------------------------------------------------------------------
    async def _process(self, msg: Msg) -> None:
        started = time.monotonic()
        self.running[id(msg)] = (msg, started)
        self.metrics.in_flight.inc()
        try:
            await self._handle(msg)
        finally:
            self._finish(msg, started)

    async def _handle(self, msg: Msg) -> None:
        attempts = msg.metadata.num_delivered
        delivery.set(attempts)
        try:
            message = schemas.decode(msg.data, self.input_type)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the decoder follows; retrying cannot help.
            await self._dead_letter(
                msg, f"cannot decode {self.input_type.__name__}: {exc}", "decode", attempts
            )
            return
        with logger.contextualize(alert_id=message.id):
            if attempts > self.settings.max_deliver:
                # Reached only when earlier attempts died with the process (e.g. killed mid-handle).
                await self._dead_letter(msg, "max deliveries reached", "max_deliver", attempts)
                return
            try:
                result = await self.handler(message)
                if result is not None and self.output_subject is not None:
                    await self.js.publish(
                        self.output_subject,
                        schemas.encode(result),
                        headers={schemas.MSG_ID_HEADER: output_msg_id(self.name, result)},
                        timeout=PUBLISH_TIMEOUT_SECONDS,
                    )
                await msg.ack()
                self.metrics.ok.inc()
            except Exception as exc:
                await self._failed(msg, exc, attempts)

    def _finish(self, msg: Msg, started: float) -> None:
        del self.running[id(msg)]
        self.metrics.in_flight.dec()
        self.metrics.handler_seconds.observe(time.monotonic() - started)
        self.held -= 1
        if self.held <= self.refill_at:
            self.slots_free.set()

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
            await self.js.publish(
                schemas.DEAD,
                schemas.encode(letter),
                headers={schemas.MSG_ID_HEADER: f"dead:{self.name}:{seq}"},
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
