"""Wiring: settings to router, ledger, HTTP session and handler, once per process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from loguru import logger

import schemas
from services.notifier._destinations import from_environment
from services.notifier._ledger import open_ledger
from services.notifier._metrics import NotifierMetrics
from services.notifier._notifier import Notifier
from services.notifier._routes import Router, load_routes, single_route
from services.notifier._settings import NotifierSettings
from services.notifier._view import LinkSettings
from services.runtime import InlineHandler, Runtime, StageSpec


def router_from(settings: NotifierSettings) -> Router:
    """The routes file when given; otherwise every configured URL receives every alert."""
    if settings.routes_file:
        return load_routes(settings.routes_file)
    destinations = from_environment(
        slack_url=settings.slack_webhook_url,
        webhook_urls=settings.generic_webhook_url,
        webhook_secret=settings.webhook_secret,
        pagerduty_key=settings.pagerduty_routing_key,
        pagerduty_url=settings.pagerduty_url,
        teams_url=settings.teams_webhook_url,
        send_resolved=settings.send_resolved,
    )
    return single_route(destinations, settings.flap_guard_seconds)


async def build(
    settings: NotifierSettings, runtime: Runtime
) -> Callable[[schemas.AnalyzedAlert], Awaitable[None]] | InlineHandler:
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
    links = LinkSettings(settings.grafana_url, settings.grafana_datasource_uid, settings.alertmanager_url)
    notifier = Notifier(
        router,
        ledger,
        session,
        NotifierMetrics(runtime.registry),
        links=links,
        timeout=settings.notify_timeout_seconds,
    )
    if not router.destinations:
        return InlineHandler(notifier.handle_log_only)
    return notifier.handle


SPEC: StageSpec[schemas.AnalyzedAlert, NotifierSettings] = StageSpec(
    name="notifier",
    input_subject=schemas.ANALYZED,
    input_type=schemas.AnalyzedAlert,
    output_subject=None,
    build=build,
)
