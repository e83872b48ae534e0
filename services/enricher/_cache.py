"""Identical queries during an alert storm are answered once: a small TTL cache of in-flight results.

It stores the task, not the value, so concurrent identical queries share one request.
Failures are not kept: the next alert asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 1024) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, asyncio.Task[Any]]] = OrderedDict()
        self.hits = 0

    async def get_or_run(self, key: Hashable, run: Callable[[], Awaitable[Any]]) -> Any:
        if self._ttl <= 0:
            return await run()
        now = time.monotonic()
        found = self._entries.get(key)
        if found and found[0] > now and not (found[1].done() and found[1].exception()):
            self.hits += 1
            return await asyncio.shield(found[1])
        task: asyncio.Task[Any] = asyncio.ensure_future(run())
        self._entries[key] = (now + self._ttl, task)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        try:
            # Shielded: one caller hitting its deadline must not cancel the answer others wait for.
            return await asyncio.shield(task)
        except Exception:
            if self._entries.get(key, (0, None))[1] is task:
                del self._entries[key]
            raise
