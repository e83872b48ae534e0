from __future__ import annotations

import asyncio

from loguru import logger
from prometheus_client import CollectorRegistry

from services.console._app import Console
from services.console._settings import ConsoleSettings
from services.console._store import HistoryHandle
from services.runtime import close_connection, connect, ensure_stream, run_service, start_http


async def serve_console(
    settings: ConsoleSettings,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Future[int] | None = None,
    store: HistoryHandle | None = None,
) -> None:
    """Serve until ``stop``; ``started`` receives the bound port."""
    stop = stop or asyncio.Event()
    nc = await connect(settings, "aiops-console", stop=stop)
    console = Console(settings, nc, CollectorRegistry(), store)
    try:
        await ensure_stream(nc.jetstream(), settings, stop)  # verdicts are published on it
        await console.live.start(nc)
        await console.store.get()  # opened now if it can be; a banner and retries otherwise
        runner, port = await start_http(
            console.app(), settings.console_host, settings.console_port, ("CONSOLE_HOST", "CONSOLE_PORT")
        )
        logger.info(
            "console on {}:{} (access: {})",
            settings.console_host,
            port,
            "credentials" if console.access.configured else "this machine only, no credentials set",
        )
        if started is not None and not started.done():
            started.set_result(port)
        await stop.wait()
        await console.live.stop()  # ends every live stream, so the runner's shutdown does not wait on them
        await runner.shutdown()
        await runner.cleanup()
    finally:
        await console.store.close()
        await close_connection(nc)
        logger.info("console stopped")


def run_console(settings: ConsoleSettings) -> None:
    run_service("console", settings, lambda stop: serve_console(settings, stop=stop))
