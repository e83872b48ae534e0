"""Circuit breaker and request-rate limiter in front of the LLM provider.

    closed --(N consecutive failures)--> open --(cool-down)--> half-open --(probe ok)--> closed
                                          ^------------------(probe fails)---------------'

While open, analyses are answered by the rules analyst at once instead of waiting on a provider
that is down; exactly one request probes it after the cool-down.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self, failures_to_open: int, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures_to_open = max(1, failures_to_open)
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._probing or self._clock() - self._opened_at >= self.cooldown_seconds:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a request may go out now; after the cool-down only one probe at a time."""
        if self._opened_at is None:
            return True
        if self._probing or self._clock() - self._opened_at < self.cooldown_seconds:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failures_to_open:
            self._opened_at, self._probing = self._clock(), False


class RateLimiter:
    """At most ``per_minute`` requests in any 60 s window; callers wait their turn (0 = unlimited)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until the next request may go; records it when zero."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()
        if len(self._sent) < self.per_minute:
            self._sent.append(now)
            return 0.0
        return 60.0 - (now - self._sent[0])

    async def acquire(self) -> None:
        if self.per_minute <= 0:
            return
        async with self._lock:
            # Holding the lock while sleeping keeps callers in arrival order.
            while (wait := self.delay()) > 0:  # noqa: ASYNC110 - waiting on the clock, not on an event
                await asyncio.sleep(wait)
