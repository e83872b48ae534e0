"""Reading what the pipeline wrote, straight from the ALERTS stream."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

import schemas

T = TypeVar("T")


async def subject_count(js: JetStreamContext, subject: str) -> int:
    info = await js.stream_info(schemas.STREAM, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def read_subject(
    js: JetStreamContext, subject: str, message_type: type[T], *, count: int, timeout: float = 10.0
) -> list[T]:
    """Every message on ``subject`` from the start, waiting until ``count`` arrived or timing out."""
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    received: list[T] = []
    try:
        async with asyncio.timeout(timeout):
            while len(received) < count:
                msg = await sub.next_msg(timeout=timeout)
                received.append(schemas.decode(msg.data, message_type))
    except TimeoutError as exc:
        raise AssertionError(f"{subject}: {len(received)} of {count} messages after {timeout}s") from exc
    finally:
        await sub.unsubscribe()
    return received


async def wait_for_count(js: JetStreamContext, subject: str, count: int, timeout: float = 10.0) -> None:
    """Wait until the stream holds ``count`` messages on ``subject`` (polls stream state)."""
    async with asyncio.timeout(timeout):
        while await subject_count(js, subject) < count:
            await asyncio.sleep(0.02)


async def caught_up(js: JetStreamContext, consumer: str, timeout: float = 15.0) -> None:
    """Wait until ``consumer`` has handled everything stored on its subject (nothing pending or unacked)."""
    async with asyncio.timeout(timeout):
        while True:
            info = await js.consumer_info(schemas.STREAM, consumer)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            await asyncio.sleep(0.05)
