"""One HTTP backend (Prometheus or Loki): auth, timeouts, retries within a deadline, a cache.

aiohttp errors are translated here, at the boundary, into SourceError types; their
reasons name the status and the backend's message, never a credential.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from services.enricher._cache import TtlCache
from services.enricher._errors import BadQuery, SourceError, TransientSourceError

_BODY_EXCERPT = 300


@dataclass(frozen=True)
class BackendConfig:
    source: str
    url: str
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    verify_tls: bool = True
    timeout_seconds: float = 5.0
    attempts: int = 3

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.headers}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return headers

    def auth(self) -> aiohttp.BasicAuth | None:
        return aiohttp.BasicAuth(self.username, self.password) if self.username else None


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
        return await self._cache.get_or_run(key, lambda: self._with_retries(path, params, query, deadline))

    async def _with_retries(
        self, path: str, params: Sequence[tuple[str, str]], query: str, deadline: float
    ) -> Any:
        loop = asyncio.get_running_loop()
        budget = deadline - loop.time()
        if budget <= 0:
            raise SourceError(self.config.source, "enrichment deadline reached before the query ran", query)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.attempts) | stop_before_delay(budget),
            wait=wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2),
            retry=retry_if_exception_type(TransientSourceError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise SourceError(self.config.source, "enrichment deadline reached", query)
                return await self._get_once(path, params, query, min(self.config.timeout_seconds, remaining))
        raise AssertionError("unreachable: tenacity reraises")

    async def _get_once(
        self, path: str, params: Sequence[tuple[str, str]], query: str, seconds: float
    ) -> Any:
        source = self.config.source
        url = self.config.url.rstrip("/") + path
        try:
            async with (
                self._limiter,
                asyncio.timeout(seconds),
                self._session.get(
                    url,
                    params=list(params),
                    headers=self.config.request_headers(),
                    auth=self.config.auth(),
                    ssl=self.config.verify_tls,
                ) as response,
            ):
                body = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise TransientSourceError(source, f"timed out after {seconds:.1f}s", query) from exc
        except aiohttp.ClientError as exc:
            raise TransientSourceError(source, f"unreachable: {type(exc).__name__}", query) from exc
        if status == 200:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise SourceError(source, "answered 200 with a body that is not JSON", query) from exc
        reason = f"HTTP {status}: {_excerpt(body)}"
        if status in (400, 422):
            raise BadQuery(source, reason, query)
        if status == 429 or status >= 500:
            raise TransientSourceError(source, reason, query)
        raise SourceError(source, reason, query)


def _excerpt(body: bytes) -> str:
    """The backend's own error message: Prometheus puts it in ``error``, Loki sends plain text."""
    try:
        decoded = orjson.loads(body)
        text = str(decoded.get("error") or decoded.get("message") or body.decode())
    except (orjson.JSONDecodeError, AttributeError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:_BODY_EXCERPT] or "(empty body)"
