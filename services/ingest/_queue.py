"""``GET /queue/status``: what waits for each stage and how many dead letters are stored, from JetStream.

Refreshing it also sets the queue gauges, so ``/metrics`` shows the pipeline's lag without a caller.
"""

from __future__ import annotations

import time
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError

import schemas
from services.ingest._metrics import IngestMetrics
from services.runtime import CONSUMERS

CONSUMER_INFO_TIMEOUT_SECONDS = 2.0


async def queue_status(nc: Client, metrics: IngestMetrics) -> dict[str, Any]:
    """The status document; it carries an ``error`` (and the caller answers 503) when JetStream cannot say."""
    started = time.perf_counter()
    consumers: dict[str, Any] = {}
    if not nc.is_connected:
        return {"error": "NATS unavailable: not connected", "consumers": consumers}
    js = nc.jetstream()
    try:
        for name in CONSUMERS:
            try:
                info = await js.consumer_info(schemas.STREAM, name, timeout=CONSUMER_INFO_TIMEOUT_SECONDS)
            except NotFoundError:
                consumers[name] = {"error": "not created yet (the stage has never started)"}
                continue
            consumers[name] = {
                "pending": info.num_pending,
                "ack_pending": info.num_ack_pending,
                "redelivered": info.num_redelivered,
            }
            metrics.consumer(name, info.num_pending or 0, info.num_ack_pending or 0)
        stream = await js.stream_info(schemas.STREAM, subjects_filter=schemas.DEAD)
        dead = (stream.state.subjects or {}).get(schemas.DEAD, 0)
        metrics.dead_letters.set(dead)
    except NotFoundError:
        return {"error": f"stream {schemas.STREAM} missing: start any stage or ingest to create it"}
    except Exception as exc:
        return {"error": f"NATS unavailable: {type(exc).__name__}", "consumers": consumers}
    return {
        "consumers": consumers,
        "dead_letters": dead,
        "stream_messages": stream.state.messages,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
