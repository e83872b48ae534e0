"""Reading what the pipeline wrote, straight from the ALERTS stream."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

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
    """Wait until ``consumer`` has acked every message stored on its subject when this is called.

    Waits on the ack floor reaching the subject's last sequence, not on the consumer's pending
    counts alone: the server updates those counts after it answers the publish, so right after a
    publish they can read zero for a message the consumer has not yet been given.
    """
    async with asyncio.timeout(timeout):
        info = await js.consumer_info(schemas.STREAM, consumer)
        subjects = info.config.filter_subjects or [info.config.filter_subject or ">"]
        last = max([await last_sequence(js, subject) for subject in subjects])
        while True:
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            if floor >= last and info.num_pending == 0 and info.num_ack_pending == 0:
                return
            await asyncio.sleep(0.05)
            info = await js.consumer_info(schemas.STREAM, consumer)


async def last_sequence(js: JetStreamContext, subject: str) -> int:
    """The stream sequence of the last message stored on ``subject`` (wildcards allowed), or 0."""
    try:
        message = await js.get_last_msg(schemas.STREAM, subject)
    except NotFoundError:
        return 0
    return int(message.seq or 0)
