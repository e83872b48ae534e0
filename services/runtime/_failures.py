"""What happens to a message whose handling or publishing failed: a retry later, or ``alerts.dead``.

Reject                      dead letter now, with the handler's reason and error_type
RetryLater, any other error nak with a delay (the handler's, else the stage's backoff),
                            a dead letter once JetStream delivered it ``max_deliver`` times
a dead letter not stored    nak: it is recorded nowhere yet, so it must come back
a dead letter too large     stored without its payload (``payload_omitted``): the original stays in
                            the stream at ``stream_seq``
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

import msgspec
from loguru import logger
from nats.aio.msg import Msg

import schemas
from services.runtime._errors import MessageTooLarge, Reject, RetryLater
from services.runtime._metrics import StageMetrics
from services.runtime._publish import Publisher
from services.runtime._settings import StageSettings
from services.runtime._tracing import add_trace_context, trace_failure

PUBLISH_TIMEOUT_SECONDS = 10.0


def retry_delay(settings: StageSettings, attempt: int) -> float:
    steps = settings.retry_backoff_seconds or [1.0]
    return steps[min(attempt, len(steps)) - 1]


class Failures:
    def __init__(
        self, stage: str, settings: StageSettings, publisher: Publisher, metrics: StageMetrics
    ) -> None:
        self.stage = stage
        self.settings = settings
        self.publisher = publisher
        self.metrics = metrics

    async def failed(
        self, msg: Msg, exc: BaseException, attempts: int, sent: dict[str, str] | None = None
    ) -> None:
        """Dead-letter or retry; ``sent``: the headers its result was published with, if it was."""
        if isinstance(exc, Reject):
            await self.dead_letter(msg, exc.reason, exc.error_type, attempts, sent)
            return
        if isinstance(exc, RetryLater):
            reason, error_type, delay = exc.reason, exc.error_type, exc.delay
        else:
            reason, error_type, delay = f"{type(exc).__name__}: {exc}", type(exc).__name__, None
        if attempts >= self.settings.max_deliver:
            reason = f"gave up after {attempts} attempts: {reason}"
            await self.dead_letter(msg, reason, error_type, attempts, sent)
            return
        delay = retry_delay(self.settings, attempts) if delay is None else delay
        trace_failure(reason)
        if isinstance(exc, RetryLater) and exc.expected:
            logger.debug("attempt {} deferred by {:.1f}s: {}", attempts, delay, reason)
        else:
            logger.warning("attempt {} failed, retrying in {:.1f}s: {}", attempts, delay, reason)
        self.metrics.retry.inc()
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def dead_letter(
        self, msg: Msg, reason: str, error_type: str, attempts: int, sent: dict[str, str] | None = None
    ) -> None:
        trace_failure(reason)
        try:
            text, encoding = msg.data.decode(), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(msg.data).decode(), "base64"
        seq = msg.metadata.sequence.stream
        letter = schemas.DeadLetter(
            subject=msg.subject,
            stage=self.stage,
            error=reason,
            error_type=error_type,
            attempts=attempts,
            failed_at=datetime.now(UTC),
            payload=text,
            payload_encoding=encoding,  # type: ignore[arg-type]
            msg_id=(msg.headers or {}).get(schemas.MSG_ID_HEADER, ""),
            stream_seq=seq,
        )
        msg_id = {schemas.MSG_ID_HEADER: f"dead:{self.stage}:{seq}"}
        # Past its handling span, a letter carries the trace context its result was sent with.
        headers = {**sent, **msg_id} if sent else add_trace_context(msg_id)
        try:
            try:
                await self.publisher.publish_and_wait(
                    schemas.DEAD, schemas.encode(letter), headers, PUBLISH_TIMEOUT_SECONDS
                )
            except MessageTooLarge:
                # The payload, escaped as text, took the letter over the limit: the letter says where
                # the original is instead, so that the failure is recorded rather than retried forever.
                bare = msgspec.structs.replace(letter, payload="", payload_omitted=True)
                await self.publisher.publish_and_wait(
                    schemas.DEAD, schemas.encode(bare), headers, PUBLISH_TIMEOUT_SECONDS
                )
        except Exception as exc:
            logger.error("cannot dead-letter ({}); message will be redelivered", type(exc).__name__)
            with contextlib.suppress(Exception):
                await msg.nak(delay=retry_delay(self.settings, attempts))
            return
        logger.error("dead-lettered after {} attempt(s): {}", attempts, reason)
        self.metrics.dead(error_type)
        with contextlib.suppress(Exception):
            await msg.term()
