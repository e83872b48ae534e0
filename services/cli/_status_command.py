"""``aiops status``: the report of ``_status`` once, as a screen or JSON, or refreshed in place (--watch).

Exit code 0 when every service is up and ready and NATS answers, 1 otherwise (for scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import Any

import orjson
from loguru import logger
from nats.aio.client import Client

from services.cli._probes import PROBE_SECONDS, service_urls
from services.cli._status import Snapshot, assess, collect
from services.runtime import ConfigError, NatsSettings, close_connection, connect, load

# Without --watch, rates come from two snapshots this far apart: short, so the answer takes < 1 s.
ONE_SHOT_RATE_SECONDS = 0.3
# The analyst's default LLM_BUDGET_BUCKET (AnalystSettings; a unit test keeps them equal).
BUDGET_BUCKET = "aiops-llm-budget"


async def _connect(settings: NatsSettings) -> tuple[Client | None, str]:
    logger.disable("services.runtime")  # one line in the report says it better than retry warnings
    where = ",".join(url.rsplit("@", 1)[-1].split("://")[-1] for url in settings.nats_url.split(","))
    try:
        nc = await asyncio.wait_for(connect(settings, "aiops-cli-status", attempts=1), PROBE_SECONDS)
    except Exception as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else type(exc).__name__
        return None, f"unreachable at {where} ({reason})"
    return nc, ""


def _settings() -> NatsSettings:
    try:
        return load(NatsSettings)
    except ConfigError as exc:
        raise SystemExit(f"aiops: configuration error: {exc}") from exc


def _daily_limit() -> int:
    try:
        return int(os.environ.get("LLM_DAILY_TOKENS") or 0)
    except ValueError:
        return 0


async def status(host: str, json_output: bool, watch: bool, interval: float | None) -> int:
    settings = _settings()
    urls = service_urls(host)
    bucket = os.environ.get("LLM_BUDGET_BUCKET") or BUDGET_BUCKET
    nc, why_not = await _connect(settings)
    try:
        if watch:
            return await _watch(urls, settings, nc, why_not, bucket, json_output, interval or 2.0)
        before = await collect(urls, nc, why_not, bucket)
        await asyncio.sleep(max(0.0, before.at + (interval or ONE_SHOT_RATE_SECONDS) - time.monotonic()))
        report = assess(before, await collect(urls, nc, why_not, bucket), _daily_limit())
        _show(report, json_output)
        return 0 if report["healthy"] else 1
    finally:
        if nc is not None:
            await close_connection(nc)


def _show(report: dict[str, Any], json_output: bool) -> None:
    if json_output:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
        sys.stdout.flush()
    else:
        from services.cli._status_screen import show

        show(report)


async def _watch(
    urls: dict[str, str],
    settings: NatsSettings,
    nc: Client | None,
    why_not: str,
    bucket: str,
    json_output: bool,
    interval: float,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    before: Snapshot = await collect(urls, nc, why_not, bucket)
    if json_output:
        screen: Any = contextlib.nullcontext()
    else:
        from services.cli._status_screen import live, render

        screen = live()
    with screen as drawn:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, before.at + interval - time.monotonic()))
            if stop.is_set():
                break
            if nc is None:
                nc, why_not = await _connect(settings)
            now = await collect(urls, nc, why_not, bucket)
            report = assess(before, now, _daily_limit())
            code = 0 if report["healthy"] else 1
            if drawn is None:
                _show(report, json_output=True)
            else:
                drawn.update(render(report), refresh=True)
            before = now
    if nc is not None:
        await close_connection(nc)
    return code
