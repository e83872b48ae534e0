"""Reading a past window of one subject of the stream, oldest first, without a durable consumer."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

import schemas


async def require_stream(js: JetStreamContext, subject: str) -> StreamInfo:
    """The stream's state for ``subject``; a clear exit instead of a traceback when it is missing."""
    try:
        return await js.stream_info(schemas.STREAM, subjects_filter=subject)
    except NotFoundError as exc:
        raise SystemExit(
            f"aiops: stream {schemas.STREAM} does not exist on this server; start any stage "
            "(they create it) or run: nats stream add --config infra/nats/stream.json"
        ) from exc


def left_in_window(first: Msg) -> int:
    """How many messages the window holds, read off its first one (the server counts what follows)."""
    return int(first.metadata.num_pending) + 1


async def read_window(
    js: JetStreamContext, subject: str, since: datetime | None, until: datetime | None = None
) -> AsyncIterator[Msg]:
    """Messages on ``subject`` stored in [since, until], ending at what the stream held when called."""
    info = await require_stream(js, subject)
    # The server counts each subject the filter matches (a wildcard, alerts.incidents.>, matches several).
    if not any((info.state.subjects or {}).values()):
        return
    if since is None:
        sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    else:
        sub = await js.subscribe(
            subject,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            config=ConsumerConfig(opt_start_time=since),
        )
    last = info.state.last_seq
    try:
        # A window the subject has no message in (all older than ``since``) would deliver nothing, and
        # next_msg would wait out its timeout: the consumer knows at once that nothing is pending.
        start = await sub.consumer_info()
        delivered = start.delivered.consumer_seq if start.delivered else 0
        if start.num_pending == 0 and delivered == 0:
            return
        while True:
            try:
                msg = await sub.next_msg(timeout=5)
            except TimeoutError:
                return
            meta = msg.metadata
            if meta.sequence.stream > last or (until is not None and meta.timestamp > until):
                return
            yield msg
            if meta.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def newest(messages: AsyncIterator[Msg], count: int | None) -> AsyncIterator[Msg]:
    """The last ``count`` of ``messages`` (every one when None), oldest first, as ``tail -n`` shows
    a file's end; holds no more than ``count`` at a time."""
    if count is None:
        async for msg in messages:
            yield msg
        return
    kept: deque[Msg] = deque(maxlen=count)
    async for msg in messages:
        kept.append(msg)
    for msg in kept:
        yield msg
