"""The console's hold on the history database: opened lazily, reopened after a failure, and the
reason it is unavailable kept for the banner (the exception's type only: a driver's message may
name the host and user of DATABASE_URL, and nothing about credentials is ever rendered).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loguru import logger

from services.history import History, HistoryUnavailable

T = TypeVar("T")

RETRY_SECONDS = 5.0
QUERY_TIMEOUT_SECONDS = 10.0
OPEN_TIMEOUT_SECONDS = 5.0

Opener = Callable[[str], Awaitable[History]]


async def _open(url: str) -> History:
    # Migrations are safe to run concurrently (services/history): a console started before the
    # history service finds the tables it reads.
    return await History.open(url, migrate=True)


class HistoryHandle:
    def __init__(self, url: str, opener: Opener = _open, retry_seconds: float = RETRY_SECONDS) -> None:
        self.url = url
        self.opener = opener
        self.retry_seconds = retry_seconds
        self.current: History | None = None
        self.problem = ""
        self._last_attempt = -retry_seconds
        self._lock = asyncio.Lock()

    async def get(self) -> History | None:
        if self.current is not None:
            return self.current
        async with self._lock:
            due = time.monotonic() - self._last_attempt >= self.retry_seconds
            if self.current is None and due:
                self._last_attempt = time.monotonic()
                try:
                    self.current = await asyncio.wait_for(self.opener(self.url), OPEN_TIMEOUT_SECONDS)
                    self.problem = ""
                except Exception as exc:
                    self._failed("open", exc)
        return self.current

    async def ask(self, question: Callable[[History], Awaitable[T]]) -> T | None:
        """The answer, or None when the database cannot give one now (the banner says why).

        Only the database failing (``HistoryUnavailable``, or no answer in time) is an outage. Any other
        error is about this one question (its input, or a bug): it fails this request, and must not
        make the console turn every user to the banner and drop a working connection."""
        history = await self.get()
        if history is None:
            return None
        try:
            return await asyncio.wait_for(question(history), QUERY_TIMEOUT_SECONDS)
        except (HistoryUnavailable, TimeoutError) as exc:
            self._failed("query", exc)
            if self.current is history:
                self.current = None
                self._last_attempt = time.monotonic()
                with contextlib.suppress(Exception):
                    await history.close()
            return None

    def _failed(self, doing: str, exc: BaseException) -> None:
        kind = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        if not self.problem:
            logger.error("history database: {} failed: {}: {}", doing, kind, str(exc)[:300])
        self.problem = (
            f"The history database is unavailable ({kind}): showing the analyses that arrived while the"
            " console was running; older ones, search and stats return when it is back."
        )

    async def close(self) -> None:
        if self.current is not None:
            with contextlib.suppress(Exception):
                await self.current.close()
            self.current = None
