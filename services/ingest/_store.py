"""Alerts onto ``alerts.raw``, answered only once JetStream acknowledged every one of them.

That is what lets ingest answer 200 and Alertmanager forget the alerts: a failure raises
``Unavailable`` (503), and Alertmanager sends the same alerts again. An alert too large to travel
the pipeline raises ``AlertTooLarge`` (413) before any alert is sent: a 503 would have Alertmanager
send it, and the rest of its group, again and again.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

import schemas
from services.ingest._errors import AlertTooLarge, Unavailable
from services.ingest._metrics import IngestMetrics
from services.runtime import PubAck, Publisher, add_trace_context

# An alert's share of a message: every later stage's message carries the alert with what that stage
# adds (evidence, an analysis), and all of it must fit the server's max_payload.
ALERT_SHARE_OF_PAYLOAD = 0.5


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
        payloads = [schemas.encode(m) for m in messages]
        limit = int(self.nc.max_payload * ALERT_SHARE_OF_PAYLOAD)
        for index, payload in enumerate(payloads):
            if len(payload) > limit:
                where = f"alerts[{index}]" if len(messages) > 1 else "the alert"
                raise AlertTooLarge(where, len(payload), limit)
        futures: list[asyncio.Future[PubAck]] = []
        trace = add_trace_context({})  # the request's span is the parent of every alert's handling downstream
        try:
            for m, payload in zip(messages, payloads, strict=True):
                headers = {schemas.MSG_ID_HEADER: m.id, **trace}
                futures.append(await self.publisher.publish(schemas.RAW, payload, headers))
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
