"""Run services in-process against a real nats-server, as tasks a test can stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from services.ingest import IngestSettings, serve_ingest
from services.runtime import StageSpec, load, serve_stage


@contextlib.asynccontextmanager
async def running_stage(spec: StageSpec[Any, Any], settings: Any) -> AsyncIterator[int]:
    """Yields the health port once the stage consumes; stops it gracefully on exit."""
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_stage(spec, settings, stop=stop, started=started))
    await _started(task, started)
    try:
        yield started.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


@contextlib.asynccontextmanager
async def running_ingest(settings: IngestSettings) -> AsyncIterator[str]:
    """Yields the base URL of a running ingest service."""
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_ingest(settings, stop=stop, started=started))
    await _started(task, started)
    try:
        yield f"http://127.0.0.1:{started.result()}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _started(task: asyncio.Task[None], started: asyncio.Future[int]) -> None:
    waiting: set[asyncio.Future[Any]] = {task, started}
    done, _ = await asyncio.wait(waiting, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what made the service exit
        raise AssertionError("service exited before it started")
    if not done:
        task.cancel()
        raise AssertionError("service did not start within 20s")


def settings_for(settings_type: type[Any], nats_url: str, **overrides: Any) -> Any:
    """Settings as the service would read them from the environment, plus overrides."""
    env = {"NATS_URL": nats_url, "HEALTH_PORT": "0", "INGEST_PORT": "0"}
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    settings = load(settings_type, env)
    return msgspec.structs.replace(settings)
