"""A continuous pull from one durable consumer: pull requests kept topped up, messages taken in batches.

nats-py's ``fetch()`` sends a request per batch and waits for each message of it in a task
of its own; when a stage keeps up with its input, every batch holds one message and that
machinery costs more than the stage's work. Here the stage keeps requests for as many
messages as it has room for outstanding at the server, which delivers each message the
moment it is stored; whatever arrived meanwhile is taken as one batch.

The count of messages requested and not yet delivered is exact while the server answers:
it decrements per message and by ``Nats-Pending-Messages`` when a request expires. When the
server forgets requests (restart, leader change, lost connection) the count is reset — on
a status saying so, on a reconnect, or when nothing at all was heard for longer than a
request lives — and the stage asks again. Asking again for requests that were still alive
costs at most one extra batch; a stall costs at most a request's life and a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

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
# After a status that ended requests abnormally (409) or a request that could not be sent.
RETRY_PAUSE_SECONDS = 0.5

STATUS = "Status"
DESCRIPTION = "Description"
PENDING_MESSAGES = "Nats-Pending-Messages"


class ContinuousPull:
    def __init__(
        self,
        nc: Client,
        stream: str,
        durable: str,
        capacity: int,
        expires_seconds: float = PULL_EXPIRES_SECONDS,
    ) -> None:
        self.nc = nc
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
        self.silences = 0
        self.reconnects = nc.stats["reconnects"]
        self.closing = False
        self.inbox = ""
        self.sub: Subscription | None = None

    async def start(self) -> None:
        self.inbox = self.nc.new_inbox()
        self.sub = await self.nc.subscribe(self.inbox, cb=self._received)
        self.last_heard = time.monotonic()

    async def _received(self, msg: Msg) -> None:
        self.last_heard = time.monotonic()
        headers = msg.headers
        status = headers.get(STATUS) if headers else None
        if status is None:
            self.requested -= 1
            if self.closing:
                # Stopping: hand it straight back so another replica takes it now, not after ack_wait.
                with contextlib.suppress(Exception):
                    await msg.nak()
                return
            self.arrived.append(msg)
            self.wake.set()
            return
        if status == "100":  # idle heartbeat
            return
        assert headers is not None
        pending = headers.get(PENDING_MESSAGES)
        if pending is not None:
            self.requested -= int(pending)
        elif status != "404":
            # Ended without saying what was left (leader change, consumer deleted): start over.
            logger.info("pull requests ended by the server: {} {}", status, headers.get(DESCRIPTION, ""))
            self.requested = 0
            self.paused_until = time.monotonic() + RETRY_PAUSE_SECONDS
        self.requested = max(self.requested, 0)
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
        room = self._room(held)
        if room < self.refill and not (room > 0 and self.requested == 0):
            return
        request = {"batch": room, "expires": int(self.expires_seconds * 1e9)}
        try:
            await self.nc.publish(self.subject, orjson.dumps(request), reply=self.inbox)
        except Exception as exc:
            # Closed or over the reconnect buffer: the next round asks again, not at once.
            logger.warning("consumer {}: cannot send a pull request ({})", self.durable, type(exc).__name__)
            self.paused_until = time.monotonic() + RETRY_PAUSE_SECONDS
            return
        self.requested += room

    async def wait(self, held: int) -> None:
        """Until messages arrive, room frees up, or a second passed; notices requests the server forgot."""
        if self.arrived or self.closing:
            return
        if self._room(held) >= self.refill and time.monotonic() >= self.paused_until:
            return
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), LIVENESS_CHECK_SECONDS)
        await self._check_liveness()

    async def _check_liveness(self) -> None:
        reconnects = self.nc.stats["reconnects"]
        if reconnects != self.reconnects:
            # Requests made on the old connection may be gone with it.
            self.reconnects = reconnects
            self.requested = 0
            return
        if self.requested == 0 or time.monotonic() - self.last_heard < self.silence_seconds:
            self.silences = 0
            return
        self.silences += 1
        silent = self.silence_seconds
        logger.warning("consumer {}: pull requests unanswered for {:.0f}s; asking anew", self.durable, silent)
        self.requested = 0
        self.last_heard = time.monotonic()
        if self.silences % 2 == 0:
            # Still nothing: the subscription itself may be stale after reconnects; make a new one.
            await self._resubscribe()

    async def _resubscribe(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self.start()

    def interrupt(self) -> None:
        self.wake.set()

    async def close(self) -> None:
        """Stop asking; what arrived and was not taken goes back to the server at once."""
        self.closing = True
        left, self.arrived = self.arrived, []
        for msg in left:
            with contextlib.suppress(Exception):
                await msg.nak()

    async def unsubscribe(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()
