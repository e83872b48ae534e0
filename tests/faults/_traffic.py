"""Alerts to send, and a sender that retries the way Alertmanager does (5xx and connection errors)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson

from tests.support.webhooks import ALERTS_PER_WEBHOOK, webhook


def webhooks(run: str, total: int) -> list[bytes]:
    return [
        webhook(run, first, min(ALERTS_PER_WEBHOOK, total - first))
        for first in range(0, total, ALERTS_PER_WEBHOOK)
    ]


class AlertmanagerClient:
    """Posts webhooks until each is accepted: 5xx and connection errors are retried with backoff.

    A 4xx is a bug in the test or the service, so it fails loudly instead of being retried.
    """

    def __init__(self, urls: list[str], max_backoff: float = 2.0) -> None:
        self._urls = itertools.cycle(urls)
        self.max_backoff = max_backoff
        self.statuses: Counter[str] = Counter()
        self.accepted_ids: set[str] = set()
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AlertmanagerClient:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._http is not None
        await self._http.close()

    async def post_once(self, body: bytes) -> tuple[int, dict[str, Any]]:
        assert self._http is not None
        url = f"{next(self._urls)}/webhook/alertmanager"
        async with self._http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            return r.status, orjson.loads(await r.read())

    async def send(self, body: bytes) -> None:
        delay = 0.05
        while True:
            try:
                status, answer = await self.post_once(body)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.statuses[type(exc).__name__] += 1
            else:
                self.statuses[str(status)] += 1
                if status == 200:
                    self.accepted_ids.update(answer["ids"])
                    return
                if status < 500:
                    raise AssertionError(f"webhook refused with {status}: {answer}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def send_all(self, bodies: list[bytes], concurrency: int = 4, per_second: float = 0.0) -> None:
        """Send every body; ``per_second`` > 0 spreads them evenly (webhooks per second)."""
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        for item in enumerate(bodies):
            queue.put_nowait(item)
        started = time.monotonic()

        async def worker() -> None:
            while not queue.empty():
                index, body = queue.get_nowait()
                if per_second > 0:
                    due = started + index / per_second
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                await self.send(body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def steady(am: AlertmanagerClient, run: str, alerts_per_second: float, stop: asyncio.Event) -> int:
    """Two alerts per webhook at an even rate until ``stop``; returns how many alerts were sent."""
    interval = 2 / alerts_per_second
    started, sent = time.monotonic(), 0
    pending: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        task = asyncio.create_task(am.send(webhook(run, sent, 2)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 2
        due = started + (sent / 2) * interval
        # Pacing the sender is the load itself, not synchronisation.
        await asyncio.sleep(max(0.0, due - time.monotonic()))
    await asyncio.gather(*pending)
    return sent
