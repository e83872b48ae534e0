"""The consumer loop of one stage: pull batches, handle, publish downstream, ack, retry, dead-letter.

Order matters: a result is published with a deterministic ``Nats-Msg-Id`` and its publish
ack awaited *before* the input is acked, so a crash in between makes JetStream redeliver
the input and de-duplicate the second publish.

There is one processing path, ``_process``, over a list of messages: it handles them one
after another in its task, publishing each result as it comes, waits for the publish acks
once, then acks, retries or dead-letters each message. Stages differ only in how many
messages one such task takes, which the ``Handler`` their build returns decides:

- ``Handler(handle)``: ``handle`` does I/O (an LLM, Prometheus, a webhook). Each message
  gets a task of its own, from its first step to its ack, so messages wait on their I/O
  side by side, and a handler may use ``asyncio.timeout`` or libraries with cancel scopes
  (openai, httpx), which must enter and exit in the same task.
- ``Handler(handle, inline=True)``: the stage declares that in this configuration ``handle``
  waits on nothing (rules analysis, no source to query, log-only notification), so its
  awaits complete at once. One task takes a whole fetched batch and the publishes are
  pipelined, as a bare relay would, because a task and a publish round trip per message
  would cost more than the work itself. A handler declared inline that does wait is still
  correct, only serial.

Either way each message is treated alike: ``aiops_handler_seconds`` measures it from
receipt to its ack, retry or dead letter; every failure goes through ``_failed``; its
decoding, handling and publishing run in a span of its own, and a failure found after that
span (the publish not acknowledged) is retried or dead-lettered with the span's trace context.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg

import schemas
from services.runtime._backlog import Backlog
from services.runtime._errors import Reject
from services.runtime._failures import PUBLISH_TIMEOUT_SECONDS, Failures
from services.runtime._logging import about_alert
from services.runtime._metrics import StageMetrics
from services.runtime._publish import PubAck, Publisher
from services.runtime._pull import ContinuousPull
from services.runtime._settings import StageSettings
from services.runtime._tracing import add_trace_context, traced_handling

AsyncHandler = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Handler:
    """A stage's one ``handle()``, and whether it waits on nothing in this configuration.

    ``handle`` may raise Reject (dead letter now) or RetryLater (retry after its delay); any
    other exception is retried with the stage's backoff until ``max_deliver``.
    """

    handle: AsyncHandler
    inline: bool = False
    # Called once with the decoded messages of a batch (inline: the fetched batch; otherwise one
    # message) before ``handle`` sees any of them, for work that costs one round trip per batch
    # instead of one per message (a transaction, a compare-and-set). Raising fails the whole batch,
    # each message retried as if ``handle`` had raised.
    prepare: Callable[[list[Any]], Awaitable[None]] | None = None
    # ``prepare`` gets (message, its sequence in the stream) pairs: for a handler that refers to a
    # message by where the stream keeps it, rather than keeping a copy of it.
    sequenced: bool = False
    # Decodes one message's data in place of the input type's decoder, for a handler that keeps the
    # bytes it received (history stores them as they came). It must validate as that decoder does and
    # raise what it raises, so an invalid message is dead-lettered alike; its result has the ``id``.
    decode: Callable[[bytes], Any] | None = None


# A handled message waiting for its publish ack: alert id, attempts, the ack, the headers sent.
Pending = tuple[Msg, str, int, "asyncio.Future[PubAck] | None", dict[str, str] | None]

# How many times JetStream has delivered the message being handled (1 on the first try),
# so a handler can report attempts that survive restarts.
delivery: contextvars.ContextVar[int] = contextvars.ContextVar("delivery", default=1)


def output_msg_id(stage: str, message: schemas.RawAlert) -> str:
    """Deterministic per stage and alert; a replay gets its own so the dedup window keeps it."""
    suffix = f":replay:{message.replay.id}" if message.replay is not None else ""
    return f"{stage}:{message.id}{suffix}"


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
        backlog: Backlog,
    ) -> None:
        self.name = name
        self.nc = nc
        self.output_subject = output_subject
        self.input_type = input_type
        self.settings = settings
        self.publisher = Publisher(nc)
        self.handler = handler
        self.metrics = metrics
        self.backlog = backlog
        self.failures = Failures(name, settings, self.publisher, metrics)
        self.tasks: set[asyncio.Task[None]] = set()
        self.held = 0  # messages fetched and not finished yet
        # A stage without I/O holds no task or connection per message: it takes whole batches.
        self.capacity = settings.most_held if handler.inline else settings.max_in_flight
        self.refill_at = self.capacity - max(1, self.capacity // 4)
        self.pull: ContinuousPull | None = None
        self.keep_alive: asyncio.Task[None] | None = None
        # id(msg) -> (msg, when it was received); one ticker keeps all of them alive.
        self.running: dict[int, tuple[Msg, float]] = {}

    # ---- pulling ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Take messages until ``stop``; then stop asking and hand back what was not started."""
        await self.publisher.start()
        self.pull = pull = ContinuousPull(
            self.nc, schemas.STREAM, self.name, self.capacity, found_nothing=lambda: self.backlog.told(0)
        )
        await pull.start()
        self.backlog.kept_by(lambda: self.held + len(pull.arrived))
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
                self.backlog.told(waiting_after(batch[-1]))
                if self.handler.inline:
                    self._spawn(self._process(batch))
                else:
                    for msg in batch:
                        self._spawn(self._process([msg]))
        finally:
            stopping.cancel()
            await pull.close()
            self.backlog.told(0)  # nothing more is taken: what waits is no longer this stage's to do

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
    async def _process(self, messages: list[Msg]) -> None:
        """Handle each message in turn, wait for the publish acks once, then ack or fail each."""
        received = time.monotonic()
        for msg in messages:
            self.running[id(msg)] = (msg, received)
        self.metrics.in_flight.inc(len(messages))
        acked = 0  # counted once per batch: a counter's lock and checks per message are measurable
        try:
            pending: list[Pending] = []
            decoded = await self._prepare(messages)
            for msg in messages:
                if decoded is not None and id(msg) not in decoded:
                    continue  # the batch's preparation failed and settled it
                handled = await self._handle(msg, None if decoded is None else decoded[id(msg)])
                if handled is not None:
                    pending.append(handled)
            futures = [future for _, _, _, future, _ in pending if future is not None]
            # Whatever is not acknowledged in time is retried below and comes back.
            answers = iter(await self.publisher.wait_all(futures, PUBLISH_TIMEOUT_SECONDS))
            for msg, alert_id, attempts, future, headers in pending:
                answer = None if future is None else next(answers)
                if isinstance(answer, BaseException):
                    with about_alert(alert_id):
                        await self._failed(msg, answer, attempts, headers)
                elif await self._ack(msg):
                    acked += 1
        finally:
            if acked:
                self.metrics.ok.inc(acked)
            # Also when cancelled at shutdown: what was not settled comes back after ack_wait.
            for msg in messages:
                self.running.pop(id(msg), None)
            self.metrics.in_flight.dec(len(messages))
            self._release(len(messages))

    async def _prepare(self, messages: list[Msg]) -> dict[int, Any] | None:
        """The handler's ``prepare`` over what decodes: id(msg) -> its message, or None when there
        is no ``prepare``. Undecodable messages map to None (``_handle`` rejects them); when
        ``prepare`` raises, every decoded message is failed here and left out of the map."""
        if self.handler.prepare is None:
            return None
        decoded: dict[int, Any] = {}
        for msg in messages:
            try:
                decoded[id(msg)] = self._decode(msg)
            except Reject:
                decoded[id(msg)] = None
        if self.handler.sequenced:
            given: list[Any] = [
                (decoded[id(msg)], stream_sequence(msg)) for msg in messages if decoded[id(msg)] is not None
            ]
        else:
            given = [message for message in decoded.values() if message is not None]
        try:
            await self.handler.prepare(given)
        except Exception as exc:
            failed = [msg for msg in messages if decoded[id(msg)] is not None]
            for msg in failed:
                with (
                    traced_handling(self.name, msg.headers),
                    about_alert(decoded[id(msg)].id),
                ):
                    await self._failed(msg, exc, deliveries(msg))
                del decoded[id(msg)]
        return decoded

    async def _handle(self, msg: Msg, prepared: Any = None) -> Pending | None:
        """Decode (unless ``prepared``), handle and publish one message in its span; None when it
        failed (and was settled)."""
        with traced_handling(self.name, msg.headers):
            attempts = deliveries(msg)
            delivery.set(attempts)
            try:
                message = prepared if prepared is not None else self._decode(msg)
            except Reject as exc:
                await self._failed(msg, exc, attempts)
                return None
            with about_alert(message.id):
                try:
                    if attempts > self.settings.max_deliver:
                        # Reached only when earlier attempts died with the process (e.g. killed mid-handle).
                        raise Reject("max deliveries reached", error_type="max_deliver")
                    result = await self.handler.handle(message)
                    if result is None or self.output_subject is None:
                        return msg, message.id, attempts, None, None
                    headers = add_trace_context({schemas.MSG_ID_HEADER: output_msg_id(self.name, result)})
                    future = await self.publisher.publish(
                        self.output_subject, schemas.encode(result), headers
                    )
                    return msg, message.id, attempts, future, headers
                except Exception as exc:
                    await self._failed(msg, exc, attempts)
                    return None

    def _decode(self, msg: Msg) -> Any:
        try:
            if self.handler.decode is not None:
                return self.handler.decode(msg.data)
            return schemas.decode(msg.data, self.input_type)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the decoder follows; retrying cannot help.
            raise Reject(
                f"cannot decode {self.input_type.__name__}: {exc}", error_type=schemas.UNDECODABLE
            ) from None

    async def _ack(self, msg: Msg) -> bool:
        """True when acked (the caller counts it)."""
        try:
            await msg.ack()
        except Exception as exc:
            # Published already: the redelivery after ack_wait is de-duplicated downstream.
            logger.warning("cannot ack ({}); it comes back after ack_wait", type(exc).__name__)
            return False
        self._settled(msg)
        return True

    def _settled(self, msg: Msg) -> None:
        """Acked, retried or dead-lettered: the one place the handler latency is measured."""
        entry = self.running.pop(id(msg), None)
        if entry is not None:
            self.metrics.handler_seconds.observe(time.monotonic() - entry[1])

    def _release(self, count: int) -> None:
        self.held -= count
        self.backlog.settled()
        if self.held <= self.refill_at and self.pull is not None:
            self.pull.interrupt()

    async def _failed(
        self, msg: Msg, exc: BaseException, attempts: int, sent: dict[str, str] | None = None
    ) -> None:
        """Retried or dead-lettered (see ``_failures``); ``sent``: the headers its result went out with."""
        await self.failures.failed(msg, exc, attempts, sent)
        self._settled(msg)

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


# $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp>.<pending>
_ACK_TOKENS = 9


def _ack_token(msg: Msg, index: int) -> int | None:
    """A number of the ack subject, read without parsing all of its metadata; None for the longer
    forms (a domain, an account hash), which nats-py's ``metadata`` reads."""
    tokens = msg.reply.split(".")
    return int(tokens[index]) if len(tokens) == _ACK_TOKENS else None


def deliveries(msg: Msg) -> int:
    """JetStream's delivery count."""
    found = _ack_token(msg, 4)
    return found if found is not None else int(msg.metadata.num_delivered)


def waiting_after(msg: Msg) -> int:
    """How many of the consumer's messages waited at the server when this one was delivered."""
    found = _ack_token(msg, 8)
    return found if found is not None else int(msg.metadata.num_pending)


def stream_sequence(msg: Msg) -> int:
    """The message's sequence in its stream."""
    found = _ack_token(msg, 5)
    return found if found is not None else int(msg.metadata.sequence.stream)
