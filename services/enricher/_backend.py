"""One HTTP backend (Prometheus, Loki, Elasticsearch...): auth, timeouts, retries within a deadline, a cache.

aiohttp errors are translated here, at the boundary, into SourceError types; their
reasons name the status and the backend's message, never a credential.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from schemas import SourceErrorKind
from services.enricher._cache import TtlCache
from services.enricher._errors import BadQuery, SourceError, TransientSourceError

_BODY_EXCERPT = 300
_BACKOFF = wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2)
# A Retry-After longer than this is not waited for: the deadline would end the enrichment first.
_RETRY_AFTER_CAP = 10.0


def _wait(state: RetryCallState) -> float:
    """The backend's Retry-After when it sent one, else exponential backoff with jitter."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TransientSourceError) and error.retry_after is not None:
        return min(error.retry_after, _RETRY_AFTER_CAP)
    return float(_BACKOFF(state))


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date is rare from these backends)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class BackendConfig:
    source: str
    url: str
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    # False skips verification; a context verifies against its own CA (a Kubernetes API server's).
    verify_tls: bool | ssl.SSLContext = True
    timeout_seconds: float = 5.0
    attempts: int = 3

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.headers}
        if self.username:
            # Built here: aiohttp.BasicAuth is deprecated, and this is all it sent.
            pair = f"{self.username}:{self.password}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return headers


def parse_headers(pairs: Sequence[str]) -> dict[str, str]:
    """``["X-Scope-OrgID=team-a", "X-Foo: bar"]`` → a header dict; raises ValueError on a bad pair."""
    headers: dict[str, str] = {}
    for pair in pairs:
        separator = "=" if "=" in pair and (":" not in pair or pair.index("=") < pair.index(":")) else ":"
        name, _, value = pair.partition(separator)
        if not name.strip() or not _:
            raise ValueError(f"header {name.strip() or pair[:20]!r} must look like Name=value")
        headers[name.strip()] = value.strip()
    return headers


class Backend:
    """GET JSON from one backend, bounded by a shared semaphore, answered from cache when repeated."""

    def __init__(
        self,
        config: BackendConfig,
        session: aiohttp.ClientSession,
        limiter: asyncio.Semaphore,
        cache: TtlCache,
    ) -> None:
        self.config = config
        self._session = session
        self._limiter = limiter
        self._cache = cache

    async def get_json(
        self, path: str, params: Sequence[tuple[str, str]], query: str, deadline: float
    ) -> Any:
        """The decoded JSON body; ``deadline`` is a loop time after which no attempt starts."""
        key = (self.config.source, path, tuple(params))
        return await self._cache.get_or_run(
            key, lambda: self._with_retries(path, params, None, query, deadline)
        )

    async def post_json(self, path: str, payload: Any, query: str, deadline: float) -> Any:
        """POST ``payload`` as JSON (a search body), with the same retries, deadline and cache as a GET."""
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        key = (self.config.source, path, body)
        return await self._cache.get_or_run(key, lambda: self._with_retries(path, (), body, query, deadline))

    async def _with_retries(
        self, path: str, params: Sequence[tuple[str, str]], payload: bytes | None, query: str, deadline: float
    ) -> Any:
        loop = asyncio.get_running_loop()
        budget = deadline - loop.time()
        if budget <= 0:
            raise SourceError(
                self.config.source,
                "enrichment deadline reached before the query ran",
                query,
                SourceErrorKind.TIMEOUT,
            )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.attempts) | stop_before_delay(budget),
            wait=_wait,
            retry=retry_if_exception_type(TransientSourceError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SourceError(
                        self.config.source, "enrichment deadline reached", query, SourceErrorKind.TIMEOUT
                    )
                seconds = min(self.config.timeout_seconds, remaining)
                return await self._once(path, params, payload, query, seconds)
        raise AssertionError("unreachable: tenacity reraises")

    async def _once(
        self, path: str, params: Sequence[tuple[str, str]], payload: bytes | None, query: str, seconds: float
    ) -> Any:
        source = self.config.source
        url = self.config.url.rstrip("/") + path
        headers = self.config.request_headers()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with (
                self._limiter,
                asyncio.timeout(seconds),
                self._session.request(
                    "GET" if payload is None else "POST",
                    url,
                    params=list(params),
                    data=payload,
                    headers=headers,
                    ssl=self.config.verify_tls,
                ) as response,
            ):
                body = await response.read()
                status = response.status
                wait = retry_after(response.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise TransientSourceError(
                source, f"timed out after {seconds:.1f}s", query, SourceErrorKind.TIMEOUT
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransientSourceError(
                source, f"unreachable: {type(exc).__name__}", query, SourceErrorKind.UNREACHABLE
            ) from exc
        if status == 200:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise SourceError(
                    source, "answered 200 with a body that is not JSON", query, SourceErrorKind.BAD_ANSWER
                ) from exc
        raise status_error(source, status, _excerpt(body), query, wait)


def status_error(
    source: str, status: int, message: str, query: str, wait: float | None = None
) -> SourceError:
    """The error for a non-200 answer, by the HTTP semantics every backend here follows."""
    reason = f"HTTP {status}: {message}"
    if status in (400, 422):
        return BadQuery(source, reason, query)
    if status == 429:
        return TransientSourceError(source, reason, query, SourceErrorKind.RATE_LIMITED, retry_after=wait)
    if status >= 500:
        return TransientSourceError(source, reason, query, SourceErrorKind.UNAVAILABLE, retry_after=wait)
    return SourceError(source, reason, query, SourceErrorKind.REJECTED)


def _excerpt(body: bytes) -> str:
    """The backend's own error message: Prometheus puts it in ``error``, Loki sends plain text,
    Elasticsearch an object with ``type`` and ``reason``."""
    try:
        decoded = orjson.loads(body)
        error = decoded.get("error") or decoded.get("message") or body.decode()
        if isinstance(error, dict) and error.get("reason"):
            error = f"{error.get('type') or 'error'}: {error['reason']}"
        text = str(error)
    except (orjson.JSONDecodeError, AttributeError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:_BODY_EXCERPT] or "(empty body)"
