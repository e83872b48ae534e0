"""One post to a destination, and what its answer means: delivered, retry later, or rejected.

Network errors and timeouts become an answer with status 0, never an exception,
so the caller decides per destination (each kind judges its answers: ``_kinds.py``).
Error texts name the failure, never the URL (webhook URLs are credentials).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import aiohttp

from services.runtime import add_trace_context, trace_http_status, traced_post

Verdict = Literal["delivered", "retry", "rejected"]

ANSWER_LIMIT = 300
MAX_RETRY_AFTER = 600.0


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    method: str = "POST"
    # How much of the answer to keep: a little for a verdict, all of it when the body is read.
    answer_limit: int = ANSWER_LIMIT


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
        return f"HTTP {self.status} {self.body[:ANSWER_LIMIT]}".strip()


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


def judge_http(answer: Answer) -> Verdict:
    """HTTP's meaning: 2xx done; 408, 429 (after Retry-After), 5xx, no answer: retry; other 4xx: refused."""
    if answer.status == 0 or answer.status == 429 or answer.status >= 500 or answer.status == 408:
        return "retry"
    if 200 <= answer.status < 300:
        return "delivered"
    return "rejected"


def verdict(kind: str, answer: Answer) -> Verdict:
    """What ``answer`` means for a destination of ``kind``, as the kind judges it."""
    # Imported here: the kinds' modules build Requests, so the registry depends on this module.
    from services.notifier._kinds import kind_named

    return kind_named(kind).judge(answer)


async def post(session: aiohttp.ClientSession, request: Request, limit_seconds: float) -> Answer:
    """Send (a POST unless the request says otherwise) in a span of its own when tracing is on;
    its ``traceparent`` goes with the request."""
    with traced_post(request.url, request.method) as span:
        headers = add_trace_context(dict(request.headers)) if span else request.headers
        answer = await _post(session, request, headers, limit_seconds)
        trace_http_status(span, answer.status, answer.status == 0 or answer.status >= 400, answer.error)
        return answer


async def _post(
    session: aiohttp.ClientSession, request: Request, headers: dict[str, str], limit_seconds: float
) -> Answer:
    started = time.perf_counter()
    try:
        async with session.request(
            request.method,
            request.url,
            data=request.body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=limit_seconds),
            allow_redirects=False,
        ) as response:
            body = (await response.text(errors="replace")).strip()
            return Answer(
                status=response.status,
                body=body[: request.answer_limit],
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
