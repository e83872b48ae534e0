"""``POST /analyze?wait=``: hand each analysis on ``alerts.analyzed`` to whoever waits for its id."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

import schemas


class _IdOnly(msgspec.Struct):
    id: str


_id_decoder = msgspec.json.Decoder(_IdOnly)


class AnalysisWaiters:
    """Listens on ``alerts.analyzed`` only while someone waits: otherwise every analysis of the
    pipeline would cross this process for nothing."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._subscription: Subscription | None = None
        self._nc: Client | None = None
        self._changing = asyncio.Lock()

    async def start(self, nc: Client) -> None:
        self._nc = nc

    async def stop(self) -> None:
        async with self._changing:
            await self._unsubscribe()

    async def expect(self, alert_id: str) -> asyncio.Future[bytes]:
        """Register (and listen) before publishing, so a fast pipeline cannot answer before we listen."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[alert_id] = future
        async with self._changing:
            if self._subscription is None and self._nc is not None:
                try:
                    self._subscription = await self._nc.subscribe(schemas.ANALYZED, cb=self._on_message)
                    # The server has the interest before the alert is published (in a cluster, the
                    # other nodes learn it shortly after; a miss there ends as a 202 with the id).
                    await self._nc.flush(timeout=2)
                except Exception as exc:
                    # The caller then answers 202 with the id after its wait, as on a timeout.
                    logger.warning("cannot listen for analyses ({})", type(exc).__name__)
        return future

    async def forget(self, alert_id: str) -> None:
        self._waiting.pop(alert_id, None)
        async with self._changing:
            if not self._waiting:
                await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        if not self._waiting:
            return
        try:
            alert_id = _id_decoder.decode(msg.data).id
        except msgspec.MsgspecError:
            return
        future = self._waiting.pop(alert_id, None)
        if future is not None and not future.done():
            future.set_result(msg.data)
