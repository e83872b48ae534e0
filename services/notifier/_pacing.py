"""Per-destination pacing: Slack takes about one message a second per webhook."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Spaces posts at least ``1 / rate`` seconds apart; a rate of 0 never waits."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval
