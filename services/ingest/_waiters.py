"""``POST /analyze?wait=``: hand each analysis on ``alerts.analyzed`` to whoever waits for its id."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

import schemas


class _IdOnly(msgspec.Struct):
    id: str


_id_decoder = msgspec.json.Decoder(_IdOnly)


class AnalysisWaiters:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._subscription: Subscription | None = None

    async def start(self, nc: Client) -> None:
        self._subscription = await nc.subscribe(schemas.ANALYZED, cb=self._on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()

    def expect(self, alert_id: str) -> asyncio.Future[bytes]:
        """Register before publishing, so a fast pipeline cannot answer before we listen."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[alert_id] = future
        return future

    def forget(self, alert_id: str) -> None:
        self._waiting.pop(alert_id, None)

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
