"""The notifier's ``notifier-incidents`` consumer: one message per incident, edited as it changes.

Each ``schemas.IncidentEvent`` (``alerts.incidents.>``) is routed like an alert standing for the
incident (``_incident_view.as_alert``) and delivered once per destination: the ledger records
``incident.<incident id>.<sequence>.<destination>`` after the destination took it, before the ack,
so a redelivered event posts nothing twice. A kind with its own ``incident`` delivery uses it
(Slack edits one message, a webhook posts the event); the others show the incident as an alert.
Events of one incident go one at a time in this process, so a Slack message is posted once
before it is edited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
from loguru import logger

import schemas
from services.notifier._destinations import rate
from services.notifier._incident_view import as_alert
from services.notifier._kind import Destination, DestinationKind, Exchange, IncidentExchange, Result
from services.notifier._kinds import kind_named
from services.notifier._ledger import Delivery, Ledger, incident_key, open_ledger
from services.notifier._metrics import NotifierMetrics
from services.notifier._notifier import Outcome, settle
from services.notifier._pacing import Pacer
from services.notifier._routes import Router, Target
from services.notifier._settings import NotifierSettings
from services.runtime import Handler, Runtime, StageSpec, current_delivery

# Outcomes after which the event is done for a destination, recorded so a redelivery skips it.
SETTLED = frozenset({"delivered", "superseded", "suppressed_update", "skipped", "duplicate"})


async def as_alert_delivery(
    x: IncidentExchange, kind: DestinationKind, d: Destination, event: schemas.IncidentEvent
) -> Result:
    """The incident as one alert, for kinds that know only alerts (PagerDuty, Teams, Opsgenie, Jira, log)."""
    v = as_alert(event)
    if kind.converse is not None:
        return await kind.converse(Exchange(x.session, x.ledger, x.timeout, v.message), d, v)
    assert kind.render is not None
    answer = await x.call(kind.render(d, v, int(time.time())))
    return Result(kind.judge(answer), answer)


class IncidentNotifier:
    def __init__(
        self,
        router: Router,
        ledger: Ledger,
        session: aiohttp.ClientSession,
        metrics: NotifierMetrics,
        *,
        timeout: float = 10.0,
        update_seconds: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.router = router
        self.ledger = ledger
        self.metrics = metrics
        self.exchange = IncidentExchange(session, ledger, timeout, clock, update_seconds)
        self.pacers = {d.name: Pacer(rate(d)) for d in router.destinations}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def handle(self, event: schemas.IncidentEvent) -> None:
        if event.replay is not None and not event.replay.notify:
            self.metrics.outcome("-", "suppressed_replay")
            return
        targets = self.router.targets(as_alert(event).message, "incident")
        if not targets:
            logger.info("incident {} ({}): no route takes it", event.incident.id, event.event)
            return
        async with self._one_at_a_time(event.incident.id):
            outcomes = await asyncio.gather(*(self._deliver(t, event) for t in targets))
        settle(list(outcomes))

    @asynccontextmanager
    async def _one_at_a_time(self, incident: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(incident, (asyncio.Lock(), 0))
        self._locks[incident] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[incident]
            if users <= 1:
                del self._locks[incident]
            else:
                self._locks[incident] = (lock, users - 1)

    async def _deliver(self, target: Target, event: schemas.IncidentEvent) -> Outcome:
        d = target.destination
        kind = kind_named(d.type)
        key = incident_key(event, d.name)
        if not kind.immediate:
            if await self.ledger.seen(key):
                logger.info("{}: incident event {} already delivered", d.name, event.id)
                return self._count(Outcome(d.name, "duplicate"))
            if event.event == "resolved" and not d.send_resolved:
                return self._count(Outcome(d.name, "suppressed_resolved"))
            await self.pacers[d.name].wait()
        if kind.incident is not None:
            result = await kind.incident(self.exchange, d, event)
        else:
            result = await as_alert_delivery(self.exchange, kind, d, event)
        answer = result.answer
        if answer is not None:
            self.metrics.latency.labels(d.name).observe(answer.latency)
        attempt = current_delivery()
        logger.info(
            "{}: incident {} {} → {} (attempt {})", d.name, event.id, event.event, result.outcome, attempt
        )
        if result.outcome in SETTLED and not kind.immediate:
            status = answer.status if answer is not None else 0
            record = Delivery(destination=d.name, status=status, attempt=attempt, at=self.exchange.clock())
            await self.ledger.record(key, record)
        if result.outcome in ("retry", "rejected") and answer is not None:
            return self._count(Outcome(d.name, result.outcome, answer.describe(), answer.retry_after))
        return self._count(Outcome(d.name, result.outcome, result.reason, result.delay))

    def _count(self, outcome: Outcome) -> Outcome:
        self.metrics.outcome(outcome.destination, outcome.outcome)
        return outcome


async def build(settings: NotifierSettings, runtime: Runtime) -> Handler:
    # Imported here: the notifier's own build module lists this one as its companion.
    from services.notifier._build import router_from

    router = router_from(settings)
    if not router.wants_incidents:
        # Read and let go, not left unread: a route added later would otherwise post every event the
        # stream still keeps (STREAM_MAX_AGE_HOURS), and `aiops status` would show a lag growing forever.
        return Handler(_let_go, inline=True)
    ledger = await open_ledger(
        runtime.js, settings.deliveries_bucket, settings.deliveries_ttl_hours * 3600, settings
    )
    session = aiohttp.ClientSession()
    runtime.on_close(session.close)
    notifier = IncidentNotifier(
        router,
        ledger,
        session,
        NotifierMetrics.of(runtime.registry),
        timeout=settings.notify_timeout_seconds,
        update_seconds=settings.notify_incident_update_seconds,
    )
    return Handler(notifier.handle)


async def _let_go(event: schemas.IncidentEvent) -> None:
    """No route sends incidents anywhere: the event is acknowledged, and nothing else."""


# Typed Any: a stage's input is an alert message, and this companion reads incident events.
SPEC: StageSpec[Any, NotifierSettings] = StageSpec(
    name="notifier-incidents",
    input_subject=schemas.INCIDENTS,
    input_type=schemas.IncidentEvent,
    output_subject=None,
    build=build,
)
