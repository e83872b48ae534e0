"""Per-client token buckets: each client may spend ``burst`` requests at once, refilled at ``per_minute``.

Pure bookkeeping (the clock is injected); the HTTP answer is the caller's. Memory is bounded: past
``max_clients`` the least recently seen client is forgotten, which can only make the limit more
lenient for it, never stricter for anyone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_minute / 60
        self.burst = max(1, burst)
        self.max_clients = max_clients
        self.clock = clock
        # client -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def take(self, client: str) -> float:
        """Spend one token of ``client``; 0 when it had one, else the seconds until it will."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens, counted = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted) * self.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.per_second
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait
