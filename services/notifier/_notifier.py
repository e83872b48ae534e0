"""The notifier's handler: route an analyzed alert, deliver it once to each destination.

Per destination, in order: already delivered (ledger) → skip; a resolution the
destination does not want → skip; the flap guard → hold or stay quiet; post.
Outcomes combine into one decision for the message: any destination to retry →
``RetryLater`` (the ledger keeps the others from posting twice); otherwise any
refusal → ``Reject`` with the destination's answer, so it lands on ``alerts.dead``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import msgspec
from loguru import logger

import schemas
from services.notifier._http import Answer, post, verdict
from services.notifier._ledger import Delivery, Ledger, delivery_key
from services.notifier._logline import summary_lines
from services.notifier._metrics import NotifierMetrics
from services.notifier._pacing import Pacer
from services.notifier._render import render
from services.notifier._routes import Router, Target
from services.notifier._view import AlertView, LinkSettings, view
from services.runtime import Reject, RetryLater, current_delivery

# A held firing message comes back just after its quiet period ends.
HOLD_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    destination: str
    outcome: str
    reason: str = ""
    delay: float | None = None


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
        self.pacers = {d.name: Pacer(d.rate) for d in router.destinations}
        # Attempts per delivery in this process, for logs; bounded, oldest forgotten first.

    async def handle(self, message: schemas.AnalyzedAlert) -> None:
        v = view(message, self.links)
        targets = self._targets(v)
        if not targets:
            return None
        if v.resolved and any(t.flap_guard_seconds > 0 for t in targets):
            await self.ledger.mark_resolved(message.alert)
        outcomes = await asyncio.gather(*(self._deliver(target, v) for target in targets))
        retries = [o for o in outcomes if o.outcome in ("retry", "held")]
        if retries:
            delays = [o.delay for o in retries if o.delay is not None]
            reason = "; ".join(f"{o.destination}: {o.reason}" for o in retries)
            raise RetryLater(
                reason, delay=max(delays) if delays else None, error_type="destination_unavailable"
            )
        refused = [o for o in outcomes if o.outcome == "rejected"]
        if refused:
            reason = "; ".join(f"{o.destination} refused the notification: {o.reason}" for o in refused)
            raise Reject(reason, error_type="destination_rejected")
        return None

    def handle_log_only(self, message: schemas.AnalyzedAlert) -> None:
        """The whole of ``handle`` when no destination is configured: nothing to wait for."""
        assert not self.router.destinations
        self._targets(view(message, self.links))

    def _targets(self, v: AlertView) -> list[Target]:
        """Where the alert goes; when nowhere, it is logged (or skipped, for a replay) here."""
        message = v.message
        if message.replay is not None and not message.replay.notify:
            logger.info(
                "replayed alert {} not notified (replay {} did not ask for it)", v.name, message.replay.id
            )
            self.metrics.outcome("-", "suppressed_replay")
            return []
        targets = self.router.targets(message)
        if not targets:
            logger.info("no destination configured for this alert:\n{}", summary_lines(v))
            self.metrics.outcome("-", "logged")
        return targets

    async def _deliver(self, target: Target, v: AlertView) -> Outcome:
        destination = target.destination
        name = destination.name
        if destination.type == "log":
            logger.info("{}:\n{}", name, summary_lines(v))
            return self._count(Outcome(name, "logged"))
        key = delivery_key(v.message, name)
        if await self.ledger.seen(key):
            logger.info("{}: already delivered, not posting again", name)
            return self._count(Outcome(name, "duplicate"))
        if v.resolved and not destination.send_resolved:
            return self._count(Outcome(name, "suppressed_resolved"))
        quiet = await self._flap_guard(target, v)
        if quiet is not None:
            return self._count(quiet)
        await self.pacers[name].wait()
        # JetStream's delivery count: survives restarts, unlike a counter in this process.
        attempt = current_delivery()
        answer = await post(self.session, render(destination, v, int(time.time())), self.timeout)
        self.metrics.latency.labels(name).observe(answer.latency)
        result = verdict(destination.type, answer)
        self._log(name, result, answer, attempt)
        if result == "delivered":
            at = self.clock()
            await self.ledger.record(
                key, Delivery(destination=name, status=answer.status, attempt=attempt, at=at)
            )
            return self._count(Outcome(name, "delivered"))
        return self._count(Outcome(name, result, answer.describe(), answer.retry_after))

    async def _flap_guard(self, target: Target, v: AlertView) -> Outcome | None:
        """Alerts that resolve within the quiet period are never announced, nor their resolution."""
        guard, name = target.flap_guard_seconds, target.destination.name
        if guard <= 0:
            return None
        if v.resolved:
            fired = v.fired_for
            if fired is None or fired.total_seconds() >= guard:
                return None
            firing_id = schemas.alert_id(msgspec.structs.replace(v.alert, status="firing"))
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
