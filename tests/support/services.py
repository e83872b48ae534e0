"""Run services in-process against a real nats-server, as tasks a test can stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
    env = {"NATS_URL": nats_url, "HEALTH_PORT": "0", "INGEST_PORT": "0", "INGEST_HOST": "127.0.0.1"}
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    settings = load(settings_type, env)
    return msgspec.structs.replace(settings)


@dataclass(frozen=True)
class Pipeline:
    url: str  # ingest's base URL
    ports: dict[str, int]  # service name -> the port its health (or, for ingest, every) endpoint is on


@contextlib.asynccontextmanager
async def running_pipeline(
    nats_url: str, *, ingest: dict[str, Any] | None = None, stages: dict[str, Any] | None = None
) -> AsyncIterator[Pipeline]:
    """Ingest and the three consuming stages in-process, with settings as environment overrides."""
    from services import analyst, enricher, notifier

    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(
            running_ingest(settings_for(IngestSettings, nats_url, **(ingest or {})))
        )
        ports = {"ingest": int(url.rsplit(":", 1)[1])}
        for spec, settings_type in (
            (enricher.SPEC, enricher.EnricherSettings),
            (analyst.SPEC, analyst.AnalystSettings),
            (notifier.SPEC, notifier.NotifierSettings),
        ):
            settings = settings_for(settings_type, nats_url, **(stages or {}))
            ports[spec.name] = await stack.enter_async_context(running_stage(spec, settings))
        yield Pipeline(url, ports)
