"""The notification sink: a FakeWebhook that counts deliveries per alert id and can be taken down."""

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

    def default_reply(self, request: Received) -> Reply:
        if self.down:
            return Reply(503, '{"error": "maintenance"}', content_type="application/json")
        self.last_delivery = time.monotonic()
        self._delivered.set()
        return super().default_reply(request)

    def per_id(self) -> Counter[str]:
        """How many times each alert id was accepted (the notifier names it in X-Aiops-Alert-Id)."""
        return Counter(r.headers.get("X-Aiops-Alert-Id", "?") for r in self.accepted)

    def delivered(self) -> int:
        return len(self.accepted)

    async def next_delivery(self, within: float) -> float:
        """Wait for the next accepted post; returns when it arrived (monotonic)."""
        self._delivered.clear()
        await asyncio.wait_for(self._delivered.wait(), within)
        return self.last_delivery
