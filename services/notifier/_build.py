"""Wiring: settings to router, ledger, HTTP session and handler, once per process."""

from __future__ import annotations

import aiohttp
from loguru import logger

import schemas
from services.notifier._destinations import from_environment
from services.notifier._incidents import SPEC as INCIDENTS_SPEC
from services.notifier._ledger import open_ledger
from services.notifier._memory import MemoryLines, MemorySettings
from services.notifier._metrics import NotifierMetrics
from services.notifier._notifier import Notifier
from services.notifier._probe import probe
from services.notifier._routes import Router, load_routes, single_route
from services.notifier._settings import NotifierSettings
from services.notifier._view import LinkSettings
from services.runtime import Handler, Runtime, StageSpec


def router_from(settings: NotifierSettings) -> Router:
    """The routes file when given; otherwise every configured destination receives every alert."""
    if settings.routes_file:
        return load_routes(settings.routes_file)
    return single_route(from_environment(settings), settings.flap_guard_seconds)


async def build(settings: NotifierSettings, runtime: Runtime) -> Handler:
    router = router_from(settings)
    names = [f"{d.name} ({d.type})" for d in router.destinations]
    if names:
        logger.info("notifying {}", ", ".join(names))
    else:
        logger.info("no destination configured: each analysis is written to this log")
    if any(d.type == "webhook" and not d.secret for d in router.destinations):
        logger.warning("WEBHOOK_SECRET is not set: webhook posts are not signed")
    ledger = await open_ledger(
        runtime.js, settings.deliveries_bucket, settings.deliveries_ttl_hours * 3600, settings
    )
    session = aiohttp.ClientSession()
    runtime.on_close(session.close)
    await probe(session, router.destinations, settings.notify_timeout_seconds)
    links = LinkSettings(settings.grafana_url, settings.grafana_datasource_uid, settings.alertmanager_url)
    notifier = Notifier(
        router,
        ledger,
        session,
        NotifierMetrics.of(runtime.registry),
        links=links,
        timeout=settings.notify_timeout_seconds,
    )
    notifier.memory = await _memory(settings, runtime) if router.destinations else None
    # Only logging, the notifier waits on nothing: the runtime handles whole batches.
    return Handler(notifier.handle, inline=not router.destinations)


async def _memory(settings: NotifierSettings, runtime: Runtime) -> MemoryLines | None:
    """History's line about each alert's past, when DATABASE_URL is set and the database opens."""
    url = MemorySettings.of(settings).database_url
    if not url:
        return None
    try:
        memory = await MemoryLines.open(url)
    except Exception as exc:
        logger.warning("messages without memory: history did not open ({})", type(exc).__name__)
        return None
    runtime.on_close(memory.close)
    return memory


SPEC: StageSpec[schemas.AnalyzedAlert, NotifierSettings] = StageSpec(
    name="notifier",
    input_subject=schemas.ANALYZED,
    input_type=schemas.AnalyzedAlert,
    output_subject=None,
    build=build,
    companions=(INCIDENTS_SPEC,),
)
