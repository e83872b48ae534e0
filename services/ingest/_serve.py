from __future__ import annotations

import asyncio
import contextlib

from loguru import logger
from prometheus_client import CollectorRegistry

from services.ingest._app import Ingest
from services.ingest._queue import queue_status
from services.ingest._settings import IngestSettings
from services.runtime import close_connection, connect, ensure_stream, run_service, start_http

QUEUE_GAUGE_INTERVAL_SECONDS = 15.0


async def serve_ingest(
    settings: IngestSettings, *, stop: asyncio.Event | None = None, started: asyncio.Future[int] | None = None
) -> None:
    """Serve until ``stop``; ``started`` receives the bound port."""
    stop = stop or asyncio.Event()
    nc = await connect(settings, "aiops-ingest", stop=stop)
    try:
        await ensure_stream(nc.jetstream(), settings, stop)
        ingest = Ingest(settings, nc, CollectorRegistry())
        await ingest.waiters.start(nc)
        await ingest.store.start()
        runner, port = await start_http(
            ingest.app(), settings.ingest_host, settings.ingest_port, ("INGEST_HOST", "INGEST_PORT")
        )
        logger.info(
            "ingest listening on {}:{} (auth {})",
            settings.ingest_host,
            port,
            "on" if ingest.auth.enabled else "off",
        )
        if warning := ingest.guard.warning():
            logger.warning(warning)
        if started is not None and not started.done():
            started.set_result(port)
        gauges = asyncio.create_task(_refresh_queue_gauges(ingest, stop))
        await stop.wait()
        gauges.cancel()
        # Stop accepting first, then let in-flight requests finish their publishes.
        await runner.shutdown()
        await runner.cleanup()
        await ingest.waiters.stop()
    finally:
        await close_connection(nc)
        logger.info("ingest stopped")


async def _refresh_queue_gauges(ingest: Ingest, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await queue_status(ingest.nc, ingest.metrics)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), QUEUE_GAUGE_INTERVAL_SECONDS)


def run_ingest(settings: IngestSettings) -> None:
    run_service("ingest", settings, lambda stop: serve_ingest(settings, stop=stop))
