"""Alerts onto ``alerts.raw``, answered only once JetStream acknowledged every one of them.

That is what lets ingest answer 200 and Alertmanager forget the alerts: a failure raises
``Unavailable`` (503), and Alertmanager sends the same alerts again.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

import schemas
from services.ingest._errors import Unavailable
from services.ingest._metrics import IngestMetrics
from services.runtime import PubAck, Publisher, add_trace_context


class AlertStore:
    def __init__(self, nc: Client, metrics: IngestMetrics, timeout_seconds: float) -> None:
        self.nc = nc
        self.metrics = metrics
        self.timeout_seconds = timeout_seconds
        self.publisher = Publisher(nc)

    async def start(self) -> None:
        await self.publisher.start()

    async def store(self, messages: list[schemas.RawAlert]) -> int:
        """Store every message; returns how many JetStream already had (its duplicate window)."""
        if not self.nc.is_connected:
            raise Unavailable("not connected to NATS")
        futures: list[asyncio.Future[PubAck]] = []
        trace = add_trace_context({})  # the request's span is the parent of every alert's handling downstream
        try:
            for m in messages:
                headers = {schemas.MSG_ID_HEADER: m.id, **trace}
                futures.append(await self.publisher.publish(schemas.RAW, schemas.encode(m), headers))
        except Exception as exc:
            for future in futures:
                future.cancel()  # given up on: the publisher forgets them
            raise Unavailable(f"JetStream did not acknowledge: {type(exc).__name__}") from exc
        acks = await self.publisher.wait_all(futures, self.timeout_seconds)
        failed = next((ack for ack in acks if isinstance(ack, BaseException)), None)
        if failed is not None:
            raise Unavailable(f"JetStream did not acknowledge: {type(failed).__name__}")
        duplicates = sum(1 for ack in acks if isinstance(ack, PubAck) and ack.duplicate)
        self.metrics.stored(len(acks) - duplicates, duplicates)
        return duplicates
