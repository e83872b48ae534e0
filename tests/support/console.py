"""The console in-process for tests, and messages with evidence worth drawing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import msgspec

import schemas
from services.console import ConsoleSettings, serve_console
from services.runtime import load
from tests.support.history import analyzed


def console_settings(nats_url: str, database_url: str, **overrides: Any) -> ConsoleSettings:
    env = {
        "NATS_URL": nats_url,
        "DATABASE_URL": database_url,
        "CONSOLE_PORT": "0",
        "CONSOLE_HOST": "127.0.0.1",
    }
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return load(ConsoleSettings, env)


@contextlib.asynccontextmanager
async def running_console(settings: ConsoleSettings) -> AsyncIterator[str]:
    """Yields the console's base URL; stops it (and every live stream) on exit."""
    stop = asyncio.Event()
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_console(settings, stop=stop, started=started))
    waiting: set[asyncio.Future[Any]] = {task, started}
    done, _ = await asyncio.wait(waiting, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
        raise AssertionError("console exited before it started")
    if not done:
        task.cancel()
        raise AssertionError("console did not start within 20s")
    try:
        yield f"http://127.0.0.1:{started.result()}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def with_evidence(
    message: schemas.AnalyzedAlert, *, log_line: str = "", label: str = ""
) -> schemas.AnalyzedAlert:
    """``message`` with a metric of 20 points around the alert's start and two log templates."""
    start = message.alert.starts_at.timestamp()
    points = [(start - 600 + 30 * i, 0.2 + (0.7 if i >= 10 else 0.0) + 0.01 * i) for i in range(20)]
    series = schemas.SeriesSummary(
        labels={"pod": label or "checkout-0"},
        samples=20,
        min=0.2,
        max=0.99,
        mean=0.5,
        last=0.99,
        points=points,
    )
    first = message.alert.starts_at - timedelta(minutes=5)
    end = message.alert.starts_at
    templates = [
        schemas.LogTemplate(
            template=log_line or "request took <num> ms", count=120, severity="warning",
            first=first, last=end, sample=log_line or "request took 950 ms",
        ),
        schemas.LogTemplate(
            template="worker pool exhausted", count=7, severity="error",
            first=first, last=end, sample="worker pool exhausted",
        ),
    ]  # fmt: skip
    metric = schemas.MetricEvidence(
        name="cpu usage", query='rate(cpu{pod="checkout-0"}[5m])', series=[series], total_series=1
    )
    evidence = schemas.Evidence(
        metrics=[metric], logs=schemas.LogEvidence(query='{namespace="shop"}', lines=127, templates=templates)
    )
    return msgspec.structs.replace(message, evidence=evidence)


__all__ = ["analyzed", "console_settings", "running_console", "with_evidence"]
