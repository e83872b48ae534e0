"""Reading a past window of one subject of the stream, oldest first, without a durable consumer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

import schemas

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A duration ago (``2h``) or an RFC 3339 time (``2026-11-26T10:00:00Z``)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither a duration (2h) nor a time (2026-11-26T10:00:00Z)") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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
