"""A continuous pull from one durable consumer: pull requests kept topped up, messages taken in batches.

nats-py's ``fetch()`` sends a request per batch and waits for each message of it in a task
of its own; when a stage keeps up with its input, every batch holds one message and that
machinery costs more than the stage's work. Here the stage keeps requests for as many
messages as it has room for outstanding at the server, which delivers each message the
moment it is stored; whatever arrived meanwhile is taken as one batch.

The count of messages requested and not yet delivered is exact while the server answers:
it decrements per message and by ``Nats-Pending-Messages`` when a request expires. When the
server may have forgotten requests (a reconnect, a leader change, nothing heard for longer
than a request lives) the stage starts a new *generation*: a new inbox and a count from
zero. Requests of an older generation may still deliver; their messages are handled like
any other but no longer count against the new requests, and the old inbox is dropped once
its requests have expired. So the count never drifts, and the room a stage takes is never
more than its capacity plus what one older generation still had outstanding.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import orjson
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

# Every request expires and is answered with a 408 after this: a heartbeat for idle stages.
PULL_EXPIRES_SECONDS = 2.0
# Nothing heard for this long past a request's expiry while requests are outstanding: they are gone.
SILENCE_GRACE_SECONDS = 1.5
LIVENESS_CHECK_SECONDS = 1.0
# After the server refused or ended requests (409), or while disconnected: ask again after this.
RETRY_PAUSE_SECONDS = 0.5
DRAIN_SECONDS = 5.0
# How long a stopping stage's inboxes keep listening after the server saw their unsubscribe.
STRAGGLER_SECONDS = 0.1

STATUS = "Status"
DESCRIPTION = "Description"
PENDING_MESSAGES = "Nats-Pending-Messages"
# 409s that end every request of the consumer (others refuse only the request they answer).
ENDS_ALL_REQUESTS = ("Leadership Change", "Consumer Deleted", "Consumer is push based")


class ContinuousPull:
    def __init__(
        self,
        nc: Client,
        stream: str,
        durable: str,
        capacity: int,
        expires_seconds: float = PULL_EXPIRES_SECONDS,
        found_nothing: Callable[[], None] = lambda: None,
    ) -> None:
        self.nc = nc
        # Called when a request of this generation expires unfilled: the server had nothing for it.
        self.found_nothing = found_nothing
        self.expires_seconds = expires_seconds
        self.silence_seconds = expires_seconds + SILENCE_GRACE_SECONDS
        self.durable = durable
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.capacity = capacity
        # Ask again once a quarter of the room is free: a request per batch, not per message.
        self.refill = max(1, capacity // 4)
        self.requested = 0
        self.arrived: list[Msg] = []
        self.wake = asyncio.Event()
        self.last_heard = time.monotonic()
        self.paused_until = 0.0
        self.reconnects = nc.stats["reconnects"]
        self.closing = False
        self.generation = 0
        self.inbox = ""
        self.sub: Subscription | None = None
        # Inboxes of older generations, dropped once their requests have surely expired.
        self.retired: list[tuple[Subscription, float]] = []

    async def start(self) -> None:
        await self._new_generation("start")

    async def _new_generation(self, why: str) -> None:
        if self.closing:
            return
        if self.sub is not None:
            self.retired.append((self.sub, time.monotonic() + self.expires_seconds + SILENCE_GRACE_SECONDS))
            logger.info("consumer {}: asking anew ({})", self.durable, why)
        self.generation += 1
        generation = self.generation
        self.requested = 0
        self.last_heard = time.monotonic()
        self.inbox = self.nc.new_inbox()

        async def received(msg: Msg) -> None:
            await self._received(msg, generation)

        self.sub = await self.nc.subscribe(self.inbox, cb=received)

    async def _received(self, msg: Msg, generation: int) -> None:
        current = generation == self.generation
        if current:
            self.last_heard = time.monotonic()
        headers = msg.headers
        status = headers.get(STATUS) if headers else None
        if status is None:
            if current:
                self.requested = max(self.requested - 1, 0)
            if self.closing:
                await self._hand_back(msg)
                return
            self.arrived.append(msg)
            self.wake.set()
            return
        if status == "100" or not current:  # a heartbeat, or news about requests already written off
            return
        assert headers is not None
        pending = headers.get(PENDING_MESSAGES)
        description = headers.get(DESCRIPTION, "")
        if pending is not None:
            self.requested = max(self.requested - int(pending), 0)
            if status == "408":
                self.found_nothing()
        elif status == "409":
            self.paused_until = time.monotonic() + RETRY_PAUSE_SECONDS
            if description in ENDS_ALL_REQUESTS:
                await self._new_generation(description.lower())
            else:
                # Refused without its count (e.g. the consumer's MaxWaiting or MaxRequestBatch).
                logger.warning("consumer {}: pull request refused: {}", self.durable, description)
                await self._new_generation("a request was refused")
        self.wake.set()

    def take(self) -> list[Msg]:
        batch, self.arrived = self.arrived, []
        return batch

    def _room(self, held: int) -> int:
        """``held``: taken and not finished yet; arrived and not taken counts as held too."""
        return self.capacity - held - len(self.arrived) - self.requested

    async def top_up(self, held: int) -> None:
        """Ask for what there is room for, once the room is worth a request."""
        if self.closing or time.monotonic() < self.paused_until:
            return
        if not self.nc.is_connected:
            # A request buffered now would reach the server after the reconnect, uncounted.
            self.paused_until = time.monotonic() + RETRY_PAUSE_SECONDS
            return
        room = self._room(held)
        if room < self.refill and not (room > 0 and self.requested == 0):
            return
        request = {"batch": room, "expires": int(self.expires_seconds * 1e9)}
        try:
            await self.nc.publish(self.subject, orjson.dumps(request), reply=self.inbox)
        except Exception as exc:
            logger.warning("consumer {}: cannot send a pull request ({})", self.durable, type(exc).__name__)
            self.paused_until = time.monotonic() + RETRY_PAUSE_SECONDS
            return
        self.requested += room

    async def wait(self, held: int) -> None:
        """Until messages arrive, room frees up, or a second passed; notices requests the server forgot."""
        if (
            self.arrived
            or self.closing
            or (self._room(held) >= self.refill and time.monotonic() >= self.paused_until)
        ):
            # Nothing to wait for, but others run first: a caller looping on wait() (without the
            # top_up that would make it wait) must not starve the loop and its timeouts.
            await asyncio.sleep(0)
            return
        self.wake.clear()
        # Not wait_for: on Python 3.11 it returns normally when the wait ends in the very turn its task
        # is cancelled, and a stage cancelled as a message woke it kept its loop running, orphaned.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LIVENESS_CHECK_SECONDS):
                await self.wake.wait()
        await self._check_liveness()

    async def _check_liveness(self) -> None:
        now = time.monotonic()
        while self.retired and self.retired[0][1] <= now:
            await _unsubscribe(self.retired.pop(0)[0])
        reconnects = self.nc.stats["reconnects"]
        if reconnects != self.reconnects:
            # Requests made on the old connection may be gone with it, or may not: count afresh.
            self.reconnects = reconnects
            await self._new_generation("reconnected")
        elif self.requested > 0 and now - self.last_heard >= self.silence_seconds:
            logger.warning(
                "consumer {}: pull requests unanswered for {:.1f}s", self.durable, now - self.last_heard
            )
            await self._new_generation("requests unanswered")

    def interrupt(self) -> None:
        self.wake.set()

    async def close(self) -> None:
        """Stop asking and hand back, at once, what reached this replica and was not started.

        Dropping the inbox's interest makes the server drop this replica's pull requests, so a
        message handed back goes to another replica instead of coming straight back here (which
        would count a delivery each time). The inboxes then keep listening a moment
        (``_withdraw_then_listen``) and are drained, handing back what the server sent before it saw
        that; what is still queued here is handed back last.
        """
        self.closing = True
        subs = [sub for sub, _ in self.retired] + ([self.sub] if self.sub is not None else [])
        self.retired, self.sub = [], None
        # Bounded, all inboxes and both steps together: nats-py's drain waits for a flush round trip
        # and for every queued message's callback, and a stage that is stopping must stop even when
        # the server does not answer (what is not handed back then returns after ack_wait).
        deadline = time.monotonic() + DRAIN_SECONDS
        if subs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._withdraw_then_listen(subs), DRAIN_SECONDS)
        for sub in subs:
            with contextlib.suppress(Exception):
                left_seconds = max(0.0, deadline - time.monotonic())
                await asyncio.wait_for(sub.drain(), left_seconds)  # type: ignore[no-untyped-call]
        left, self.arrived = self.arrived, []
        for msg in left:
            await self._hand_back(msg)

    async def _withdraw_then_listen(self, subs: list[Subscription]) -> None:
        """Interest withdrawn at the server while the inboxes still hand back what reaches them.

        The server sends a pull request's message from the consumer's own queue, not in order with
        its answers to this connection: a message it took for one of these requests just before it
        saw the unsubscribe can arrive after the flush that follows it. Dropped by a subscription
        already gone, it would count as delivered and come back only after ack_wait. nats-py's drain
        removes the subscription right after its flush, so the unsubscribe is sent first (nats-py's
        own call: its public ones also drop the handler; limit 0, which older releases did not
        default to), then the inboxes keep listening a moment; the drain's second unsubscribe is one
        the server ignores. The moment narrows the race rather than closing it: on a machine slower
        still, such a message may yet come back only after ack_wait."""
        for sub in subs:
            await self.nc._send_unsubscribe(sub._id, limit=0)
        await self.nc.flush()
        # Requests outstanding on this inbox, or older inboxes whose requests may still be waiting.
        if self.requested > 0 or len(subs) > 1:
            await asyncio.sleep(STRAGGLER_SECONDS)

    async def _hand_back(self, msg: Msg) -> None:
        with contextlib.suppress(Exception):
            await msg.nak()


async def _unsubscribe(sub: Subscription) -> None:
    with contextlib.suppress(Exception):
        await sub.unsubscribe()
