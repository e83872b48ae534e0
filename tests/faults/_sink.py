"""The notification sink: a FakeWebhook that counts deliveries per alert id and can be taken down.

It honours ``Idempotency-Key`` as a receiver following the IETF draft does: a repeat of a key it
already answered with success gets that answer again and is not acted on twice. Repeats are
counted apart (``reposts``), so a scenario can still insist on none.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.fakes.webhook import FakeWebhook, Received, Reply


class Sink(FakeWebhook):
    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.last_delivery = 0.0
        self._delivered = asyncio.Event()
        self._answered: dict[str, Reply] = {}
        self._acted_on: Counter[str] = Counter()
        self.repeats: list[Received] = []
        # When each key was first answered, and (first answered, repeated) for every repeat.
        self._answered_at: dict[str, float] = {}
        self.repeat_times: list[tuple[float, float]] = []

    def default_reply(self, request: Received) -> Reply:
        if self.down:
            return Reply(503, '{"error": "maintenance"}', content_type="application/json")
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._answered:
            self.repeats.append(request)
            self.repeat_times.append((self._answered_at[key], time.monotonic()))
            return self._answered[key]
        self.last_delivery = time.monotonic()
        self._delivered.set()
        reply = super().default_reply(request)
        if key is not None:
            self._answered[key] = reply
            self._answered_at[key] = self.last_delivery
        self._acted_on[request.headers.get("X-Aiops-Alert-Id", "?")] += 1
        return reply

    def per_id(self) -> Counter[str]:
        """How many times each alert id was acted on (the notifier names it in X-Aiops-Alert-Id)."""
        return Counter(self._acted_on)

    def reposts(self) -> int:
        """Posts of a notification the sink already had: answered from its Idempotency-Key record."""
        return len(self.repeats)

    def reposts_per_kill(self, kills: list[float]) -> list[int]:
        """Re-posts charged to each kill (monotonic times, in order): a repeat belongs to the first kill
        after its first answer, the one that interrupted the sender before it recorded the delivery
        (its redelivery may come much later, after ack_wait, even after a later kill)."""
        charged = [0] * len(kills)
        for first, again in self.repeat_times:
            interrupted = next((i for i, kill in enumerate(kills) if first <= kill < again), None)
            if interrupted is not None:
                charged[interrupted] += 1
        return charged

    def delivered(self) -> int:
        return len(self.accepted)

    async def next_delivery(self, within: float) -> float:
        """Wait for the next accepted post; returns when it arrived (monotonic)."""
        self._delivered.clear()
        await asyncio.wait_for(self._delivered.wait(), within)
        return self.last_delivery
