"""Publishing to JetStream with the acks as futures: one reply subscription, a counter for subjects.

nats-py's ``publish_async`` does the same with more work per message (a random token, a
semaphore, ``json.loads`` and a dataclass per ack); at a few thousand alerts a second that was
a third of a stage's cost. Acks are decoded with msgspec into the few fields we read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.runtime._errors import MessageTooLarge
from services.runtime._nats_client import header_block

# Headers this runtime sends (a message id, a trace context) stay far below this: a payload this far
# under the server's limit is sent without adding its headers up.
_HEADERS_ROOM = 4096


class PublishFailed(Exception):
    """JetStream did not store the message: it answered with an error, or nothing stores the subject."""


class ApiError(msgspec.Struct):
    """The ``error`` of a JetStream API answer (a publish ack, a stream message read)."""

    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: ApiError | None = None


_decoder = msgspec.json.Decoder(PubAck)


class Publisher:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = ""
        self.waiting: dict[str, asyncio.Future[PubAck]] = {}
        self.sent = 0
        self.sub: Subscription | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # looked up once: every publish makes a future

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.prefix = self.nc.new_inbox() + "."
        self.sub = await self.nc.subscribe(self.prefix + "*", cb=self._answered)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[PubAck]:
        """Send; the future resolves with JetStream's ack or fails with PublishFailed. A message over the
        server's ``max_payload`` raises MessageTooLarge unsent (``refuse_if_too_large``)."""
        refuse_if_too_large(payload, headers, self.nc.max_payload)
        self.sent += 1
        reply = f"{self.prefix}{self.sent}"
        future: asyncio.Future[PubAck] = (self.loop or asyncio.get_running_loop()).create_future()
        self.waiting[reply] = future
        try:
            await self.nc.publish(subject, payload, reply=reply, headers=headers)
        except BaseException:
            del self.waiting[reply]
            raise
        return future

    async def publish_and_wait(
        self, subject: str, payload: bytes, headers: dict[str, str], within: float
    ) -> PubAck:
        future = await self.publish(subject, payload, headers)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._forget_unanswered()

    async def wait_all(
        self, futures: Sequence[asyncio.Future[PubAck]], within: float
    ) -> list[PubAck | BaseException]:
        """Each ack, or why there is none (a TimeoutError for those not answered in time)."""
        await _settled([future for future in futures if not future.done()], within)
        results: list[PubAck | BaseException] = []
        for future in futures:
            if not future.done() or future.cancelled():
                results.append(TimeoutError("no publish acknowledgement in time"))
            else:
                results.append(future.exception() or future.result())
        self._forget_unanswered()
        return results

    def _forget_unanswered(self) -> None:
        # Futures given up on (cancelled by a timeout) would otherwise wait here forever.
        if any(future.done() for future in self.waiting.values()):
            self.waiting = {reply: f for reply, f in self.waiting.items() if not f.done()}

    async def _answered(self, msg: Msg) -> None:
        future = self.waiting.pop(msg.subject, None)
        if future is None or future.done():
            return
        status = msg.headers.get("Status") if msg.headers else None
        if status == "503":
            future.set_exception(PublishFailed("no stream stores this subject (no responders)"))
            return
        try:
            ack = _decoder.decode(msg.data)
        except msgspec.DecodeError:
            future.set_exception(PublishFailed(f"unreadable publish ack: {msg.data[:100]!r}"))
            return
        if ack.error is not None:
            future.set_exception(PublishFailed(f"{ack.error.description} ({ack.error.err_code})"))
            return
        future.set_result(ack)

    async def close(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()


def refuse_if_too_large(payload: bytes, headers: dict[str, str] | None, limit: int) -> None:
    """MessageTooLarge when the payload and its headers are over the server's ``max_payload``
    (``limit``): nats-py checks the payload alone, and the server answers headers that tip a message
    over by closing the connection."""
    if len(payload) + _HEADERS_ROOM > limit and (size := _message_size(payload, headers)) > limit:
        raise MessageTooLarge(size, limit)


def _message_size(payload: bytes, headers: dict[str, str] | None) -> int:
    """The bytes the server counts against its ``max_payload``: the payload and the header block,
    which nats-py sends for any headers given, even none (``{}``). A block ``header_block`` leaves
    to nats-py (a key it has not seen valid and that is not simple) is not counted: nats-py decides."""
    block = header_block(headers) if headers is not None else None
    return len(payload) + (len(block) if block is not None else 0)


async def _settled(futures: list[asyncio.Future[PubAck]], within: float) -> None:
    """Until every future is done, at most ``within`` seconds; those still waiting then (or when the
    caller is cancelled) are cancelled: given up on. One waiter and one timer for the whole batch,
    where ``wait_for`` over ``gather`` made three futures, a timer and a callback per ack and cost
    13 µs more per batch: at the few messages a batch holds when a stage keeps up, a stage's visible
    share."""
    if not futures:
        return
    all_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = len(futures)

    def one_done(_: asyncio.Future[PubAck]) -> None:
        nonlocal left
        left -= 1
        if left == 0 and not all_done.done():
            all_done.set_result(None)

    for future in futures:
        future.add_done_callback(one_done)
    try:
        async with asyncio.timeout(within):
            await all_done
    except TimeoutError:
        pass
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
