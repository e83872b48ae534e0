"""One post to a destination, and what its answer means: delivered, retry later, or rejected.

Network errors and timeouts become an answer with status 0, never an exception,
so the caller decides per destination. Error texts name the failure, never the
URL (webhook URLs are credentials).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import aiohttp

Verdict = Literal["delivered", "retry", "rejected"]

ANSWER_LIMIT = 300
MAX_RETRY_AFTER = 600.0
# Classic Teams connectors answer 200 with this text when Teams itself refused the card.
TEAMS_FAILURE = "Webhook message delivery failed"


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    latency: float
    retry_after: float | None = None
    error: str = ""

    def describe(self) -> str:
        if self.status == 0:
            return self.error
        return f"HTTP {self.status} {self.body}".strip()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def verdict(kind: str, answer: Answer) -> Verdict:
    if answer.status == 0 or answer.status == 429 or answer.status >= 500 or answer.status == 408:
        return "retry"
    if 200 <= answer.status < 300:
        if kind == "teams" and answer.body.startswith(TEAMS_FAILURE):
            return "retry" if "429" in answer.body or "HTTP error 5" in answer.body else "rejected"
        return "delivered"
    return "rejected"


async def post(session: aiohttp.ClientSession, request: Request, limit_seconds: float) -> Answer:
    started = time.perf_counter()
    try:
        async with session.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=aiohttp.ClientTimeout(total=limit_seconds),
            allow_redirects=False,
        ) as response:
            body = (await response.text(errors="replace")).strip()
            return Answer(
                status=response.status,
                body=body[:ANSWER_LIMIT],
                latency=time.perf_counter() - started,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
    except TimeoutError:
        return Answer(0, "", time.perf_counter() - started, error=f"timed out after {limit_seconds:g}s")
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        error = f"cannot connect to {exc.host}:{exc.port} ({reason})"
        return Answer(0, "", time.perf_counter() - started, error=error)
    except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
        return Answer(0, "", time.perf_counter() - started, error=f"connection failed ({type(exc).__name__})")
