"""``aiops status``: the report of ``_status`` once, as a screen or JSON, or refreshed in place (--watch).

Exit code 0 when every service is up and ready and NATS answers, 1 otherwise (for scripts).

Once (without --watch) it answers within a second, its imports included (bench.status): the full
snapshot starts the rate window, so the probes run inside it, and the screen's imports (rich, the
metrics parser) load on a thread meanwhile, while the main thread mostly waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from services.cli._probes import probe_all, read_counters, service_urls
from services.cli._status import COUNTED, Snapshot, assess
from services.cli._status_nats import close, connect, read_nats, read_subjects

if TYPE_CHECKING:
    # Only for types: imported before _status_nats, nats-py would bring aiohttp (see _status_nats).
    from nats.aio.client import Client

# Without --watch, rates come from two snapshots this far apart: short, so the answer takes < 1 s.
ONE_SHOT_RATE_SECONDS = 0.3
# The analyst's default LLM_BUDGET_BUCKET (AnalystSettings; a unit test keeps them equal).
BUDGET_BUCKET = "aiops-llm-budget"


async def collect(urls: Mapping[str, str], nc: Client | None, why_not: str, budget_bucket: str) -> Snapshot:
    """Everything the report shows: each service's /healthz, /readyz and /metrics, and JetStream."""
    started = time.monotonic()
    services, nats_view = await asyncio.gather(probe_all(urls), read_nats(nc, why_not, budget_bucket))
    return Snapshot(started, services, nats_view, time.monotonic() - started)


async def collect_counters(urls: Mapping[str, str], nc: Client | None, why_not: str) -> Snapshot:
    """Only what a rate needs: the stream's per-subject counts and the COUNTED services' /metrics."""
    started = time.monotonic()
    services, nats_view = await asyncio.gather(read_counters(urls, COUNTED), read_subjects(nc, why_not))
    return Snapshot(started, services, nats_view, time.monotonic() - started)


def _load_meanwhile(*modules: str) -> threading.Thread:
    """Import ``modules`` on a thread; whoever imports one first later waits for it, never twice."""

    def load() -> None:
        for module in modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)

    loading = threading.Thread(target=load, name="aiops-status-imports")
    loading.start()
    return loading


def _daily_limit() -> int:
    try:
        return int(os.environ.get("LLM_DAILY_TOKENS") or 0)
    except ValueError:
        return 0


def _answered(report: dict[str, Any], asked_at: float) -> dict[str, Any]:
    """The report, with how long the answer took: connecting, the probes and the rates' wait included
    (``took_ms`` is one snapshot's probes alone)."""
    report["answered_ms"] = round((time.monotonic() - asked_at) * 1000, 1)
    return report


async def status(host: str, json_output: bool, watch: bool, interval: float | None) -> int:
    asked_at = time.monotonic()
    urls = service_urls(host)
    bucket = os.environ.get("LLM_BUDGET_BUCKET") or BUDGET_BUCKET
    loading = _load_meanwhile(
        "prometheus_client.parser", *(() if json_output else ("services.cli._status_screen",))
    )
    nc, why_not = await connect(os.environ)
    try:
        if watch:
            return await _watch(urls, nc, why_not, bucket, json_output, interval or 2.0)
        full = await collect(urls, nc, why_not, bucket)
        await asyncio.sleep(max(0.0, full.at + (interval or ONE_SHOT_RATE_SECONDS) - time.monotonic()))
        report = assess(full, await collect_counters(urls, nc, why_not), _daily_limit(), state=full)
        _show(_answered(report, asked_at), json_output)
        return 0 if report["healthy"] else 1
    finally:
        if nc is not None:
            await close(nc)
        loading.join()  # done by now unless nothing needed it (every service down): never cut an import


def _show(report: dict[str, Any], json_output: bool) -> None:
    if json_output:
        sys.stdout.write(orjson.dumps(report).decode() + "\n")
        sys.stdout.flush()
    else:
        from services.cli._status_screen import show

        show(report)


async def _watch(
    urls: dict[str, str],
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
            asked_at = time.monotonic()
            if nc is None:
                nc, why_not = await connect(os.environ)
            now = await collect(urls, nc, why_not, bucket)
            report = _answered(assess(before, now, _daily_limit()), asked_at)
            code = 0 if report["healthy"] else 1
            if drawn is None:
                _show(report, json_output=True)
            else:
                drawn.update(render(report), refresh=True)
            before = now
    if nc is not None:
        await close(nc)
    return code
