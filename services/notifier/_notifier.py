"""The notifier's handler: route an analyzed alert, deliver it once to each destination.

Per destination, in order: already delivered (ledger) → skip; a resolution the
destination does not want → skip; the flap guard → hold or stay quiet; post.
Outcomes combine into one decision for the message: any destination to retry →
``RetryLater`` (the ledger keeps the others from posting twice); otherwise any
refusal → ``Reject`` with the destination's answer, so it lands on ``alerts.dead``.

An alert grouped into an incident (``incident`` set) is not posted on its own: its incident's
events carry it (``_incidents.py``); only routes that say ``kind: alert`` still take it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from loguru import logger

import schemas
from services.notifier._destinations import rate
from services.notifier._http import Answer, post
from services.notifier._kind import Destination, DestinationKind, Exchange, Result
from services.notifier._kinds import kind_named
from services.notifier._ledger import Delivery, Ledger, delivery_key
from services.notifier._logline import summary_lines
from services.notifier._memory import MemoryLines
from services.notifier._metrics import NotifierMetrics
from services.notifier._pacing import Pacer
from services.notifier._render import render
from services.notifier._routes import Router, Target
from services.notifier._view import AlertView, LinkSettings, alert_name, view
from services.runtime import Reject, RetryLater, current_delivery

# A held firing message comes back just after its quiet period ends.
HOLD_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    destination: str
    outcome: str
    reason: str = ""
    delay: float | None = None


def settle(outcomes: list[Outcome]) -> None:
    """One decision for a message from its destinations' outcomes: retry, dead letter, or done."""
    retries = [o for o in outcomes if o.outcome in ("retry", "held")]
    if retries:
        delays = [o.delay for o in retries if o.delay is not None]
        reason = "; ".join(f"{o.destination}: {o.reason}" for o in retries)
        raise RetryLater(reason, delay=max(delays) if delays else None, error_type="destination_unavailable")
    refused = [o for o in outcomes if o.outcome == "rejected"]
    if refused:
        reason = "; ".join(f"{o.destination} refused the notification: {o.reason}" for o in refused)
        raise Reject(reason, error_type="destination_rejected")


class Notifier:
    def __init__(
        self,
        router: Router,
        ledger: Ledger,
        session: aiohttp.ClientSession,
        metrics: NotifierMetrics,
        *,
        links: LinkSettings | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.router = router
        self.ledger = ledger
        self.session = session
        self.metrics = metrics
        self.links = links or LinkSettings()
        self.timeout = timeout
        self.clock = clock
        self.pacers = {d.name: Pacer(rate(d)) for d in router.destinations}
        # History's line about the alert's past (DATABASE_URL): set by build, None without history.
        self.memory: MemoryLines | None = None
        # Attempts per delivery in this process, for logs; bounded, oldest forgotten first.

    async def handle(self, message: schemas.AnalyzedAlert) -> None:
        targets = self._targets(message)
        if not targets:
            return None
        resolved = message.alert.status == "resolved"
        memory = await self.memory.line(message) if self.memory is not None and not resolved else ""
        v = view(message, self.links, memory)
        if v.resolved and any(t.flap_guard_seconds > 0 for t in targets):
            await self.ledger.mark_resolved(message.alert)
        outcomes = await asyncio.gather(*(self._deliver(target, v) for target in targets))
        settle(list(outcomes))
        return None

    def _targets(self, message: schemas.AnalyzedAlert) -> list[Target]:
        """Where the alert goes; when nowhere, it is logged (or skipped, for a replay) here."""
        if message.replay is not None and not message.replay.notify:
            logger.info(
                "replayed alert {} not notified (replay {} did not ask for it)",
                alert_name(message.alert),
                message.replay.id,
            )
            self.metrics.outcome("-", "suppressed_replay")
            return []
        grouped = message.incident is not None and bool(self.router.destinations)
        targets = self.router.targets(message, "grouped" if grouped else "alert")
        if grouped and not targets:
            assert message.incident is not None
            logger.info(
                "{} is part of incident {}: its incident's messages carry it",
                alert_name(message.alert),
                message.incident.id,
            )
            self.metrics.outcome("-", "grouped")
        elif not targets:
            # The view and its lines are made only when INFO is written: they are most of the work
            # when all this stage does is log.
            logger.opt(lazy=True).info(
                "no destination configured for this alert:\n{}",
                lambda: summary_lines(view(message, self.links)),
            )
            self.metrics.outcome("-", "logged")
        return targets

    async def _deliver(self, target: Target, v: AlertView) -> Outcome:
        destination = target.destination
        kind = kind_named(destination.type)
        if not kind.immediate:
            quiet = await self._skip(target, v, kind)
            if quiet is not None:
                return self._count(quiet)
            await self.pacers[destination.name].wait()
        return self._count(await self._send(kind, destination, v))

    async def _skip(self, target: Target, v: AlertView, kind: DestinationKind) -> Outcome | None:
        """Already delivered, a resolution the destination does not want, or the flap guard's quiet."""
        name = target.destination.name
        # A conversation keeps its own records; one post per alert is looked up here.
        if kind.converse is None and await self.ledger.seen(delivery_key(v.message, name)):
            logger.info("{}: already delivered, not posting again", name)
            return Outcome(name, "duplicate")
        if v.resolved and not target.destination.send_resolved:
            return Outcome(name, "suppressed_resolved")
        return await self._flap_guard(target, v)

    async def _send(self, kind: DestinationKind, destination: Destination, v: AlertView) -> Outcome:
        name = destination.name
        # JetStream's delivery count: survives restarts, unlike a counter in this process.
        attempt = current_delivery()
        if kind.converse is not None:
            exchange = Exchange(self.session, self.ledger, self.timeout, v.message)
            result = await kind.converse(exchange, destination, v)
        else:
            answer = await post(self.session, render(destination, v, int(time.time())), self.timeout)
            result = Result(kind.judge(answer), answer)
        last = result.answer
        if last is None:
            if not kind.immediate:
                logger.info("{}: {} (attempt {})", name, result.outcome, attempt)
            return Outcome(name, result.outcome)
        self.metrics.latency.labels(name).observe(last.latency)
        self._log(name, result.outcome, last, attempt)
        if result.outcome == "delivered":
            # Conversations are recorded here too: the flap guard asks whether a firing was announced.
            record = Delivery(destination=name, status=last.status, attempt=attempt, at=self.clock())
            await self.ledger.record(delivery_key(v.message, name), record)
            return Outcome(name, "delivered")
        return Outcome(name, result.outcome, last.describe(), last.retry_after)

    async def _flap_guard(self, target: Target, v: AlertView) -> Outcome | None:
        """Alerts that resolve within the quiet period are never announced, nor their resolution."""
        guard, name = target.flap_guard_seconds, target.destination.name
        if guard <= 0:
            return None
        if v.resolved:
            fired = v.fired_for
            if fired is None or fired.total_seconds() >= guard:
                return None
            firing_id = schemas.firing_id(schemas.episode_key(v.alert))
            if await self.ledger.seen(delivery_key(v.message, name, alert_id=firing_id)):
                return None  # its firing was announced, so its resolution is too
            logger.info(
                "{}: {} resolved after {}, inside the {:g}s quiet period",
                name,
                v.name,
                v.fired_for_text,
                guard,
            )
            return Outcome(name, "suppressed_flapping")
        resolved_at = await self.ledger.resolved_at(v.alert)
        if resolved_at is not None and (resolved_at - v.alert.starts_at).total_seconds() < guard:
            logger.info("{}: {} already resolved inside the {:g}s quiet period", name, v.name, guard)
            return Outcome(name, "suppressed_flapping")
        age = (self.clock() - v.alert.starts_at).total_seconds()
        if resolved_at is None and age < guard:
            delay = guard - age + HOLD_MARGIN_SECONDS
            return Outcome(name, "held", f"quiet period, held for {delay:.0f}s", delay)
        return None

    def _log(self, name: str, result: str, answer: Answer, attempt: int) -> None:
        line = "{}: {} ({}, {:.0f} ms, attempt {})"
        args = (name, result, answer.describe(), answer.latency * 1000, attempt)
        if result == "delivered":
            logger.info(line, *args)
        else:
            logger.warning(line, *args)

    def _count(self, outcome: Outcome) -> Outcome:
        self.metrics.outcome(outcome.destination, outcome.outcome)
        return outcome
