"""The LLM analyst: one grounded call per alert, repaired once, replaced by the rules when it fails.

    analyze()  never raises; it returns the LLM's analysis, or the rules analyst's with
               degraded=True and the reason (breaker open, provider errors, invalid answers,
               the daily token budget spent).
    explain()  the same for any prompt and fallback: an incident's (services/analyst/_incident_analysis.py).

Retries are ours (the SDK's own are off): on 429, 5xx, timeouts and connection errors, honouring
Retry-After, with jittered exponential backoff. Each request passes the rate limiter and the
concurrency bound; each outcome feeds the circuit breaker.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec
import openai
from loguru import logger
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

import schemas
from services.analyst._anonymize import anonymizer_for
from services.analyst._answer import LlmAnswer, answer_schema, parse_answer, to_analysis
from services.analyst._breaker import CircuitBreaker, RateLimiter
from services.analyst._budget import LocalTally, TokenBudget
from services.analyst._errors import (
    BreakerOpen,
    BudgetExhausted,
    InvalidAnswer,
    RetryAfterTooLong,
    error_type,
    is_transient,
)
from services.analyst._memory import PastIncidents
from services.analyst._metrics import AnalystMetrics
from services.analyst._prompt import REPAIR_PROMPT, Prompt, build_prompt
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (Retry-After / retry-after-ms), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def response_format(kind: str) -> dict[str, Any] | None:
    """The ``response_format`` sent for LLM_RESPONSE_FORMAT (None: none is sent)."""
    formats: dict[str, dict[str, Any] | None] = {
        "json_object": {"type": "json_object"},
        "json_schema": {"type": "json_schema", "json_schema": {**answer_schema(), "strict": True}},
        # llama-cpp-python's server takes the schema inside JSON mode and constrains decoding to it.
        "json_object_schema": {"type": "json_object", "schema": answer_schema()["schema"]},
        "none": None,
    }
    return formats[kind]


class LlmAnalyst:
    def __init__(
        self,
        settings: AnalystSettings,
        rules: RulesAnalyst,
        metrics: AnalystMetrics,
        client: openai.AsyncOpenAI | None = None,
        budget: TokenBudget | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.metrics = metrics
        self.client = client or openai.AsyncOpenAI(
            api_key=settings.llm_api_key,
            base_url=settings.llm_base_url,
            timeout=settings.llm_timeout,
            max_retries=0,
        )
        self.breaker = CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_cooldown_seconds)
        self.limiter = RateLimiter(settings.llm_rpm)
        # Without a shared tally (eval, bench) the cap holds for this process alone.
        self.budget = budget or TokenBudget(settings.llm_daily_tokens, LocalTally())
        self.slots = asyncio.Semaphore(settings.llm_concurrency or settings.max_in_flight)
        self._format = response_format(settings.llm_response_format)
        # Similar past incidents for the prompt (DATABASE_URL): set by llm_for, None without history.
        self.memory: PastIncidents | None = None

    async def close(self) -> None:
        await self.client.close()

    async def analyze(self, message: schemas.EnrichedAlert) -> schemas.Analysis:
        budget = self.settings.llm_max_prompt_tokens
        similar = await self.memory.for_prompt(message) if self.memory is not None else []
        return await self.explain(
            lambda scrub: build_prompt(message, budget, scrub, similar), lambda: self.rules.analyze(message)
        )

    async def explain(
        self, prompt_for: Callable[[Callable[[str], str]], Prompt], fallback: Callable[[], schemas.Analysis]
    ) -> schemas.Analysis:
        """One answer to any prompt (an alert's, an incident's) through the same client, retries, breaker,
        budget, anonymiser and repair round; ``fallback()`` answers, marked degraded, when the LLM does not.
        ``prompt_for`` gets the anonymiser's scrub (or the identity) to apply to its user part."""
        usage = [0, 0]
        anonymizer = anonymizer_for(self.settings)
        prompt = prompt_for(anonymizer.scrub_json if anonymizer else _unchanged)
        messages = list(prompt.messages)
        try:
            async with self.slots:
                text, model = await self._complete(messages, usage)
                try:
                    answer = parse_answer(text)
                except InvalidAnswer as first:
                    logger.warning("LLM answer invalid, asking once for a repair: {}", first)
                    self.metrics.llm_requests.labels("invalid_answer").inc()
                    messages += [
                        {"role": "assistant", "content": text or ""},
                        {"role": "user", "content": self._repair_text(first)},
                    ]
                    text, model = await self._complete(messages, usage)
                    answer = parse_answer(text)
        except Exception as exc:
            return self._fallback(fallback, exc, usage)
        analysis = to_analysis(answer, model=model, prompt_tokens=usage[0], completion_tokens=usage[1])
        return anonymizer.restore_analysis(analysis) if anonymizer else analysis

    def _repair_text(self, error: InvalidAnswer) -> str:
        return REPAIR_PROMPT.format(error=str(error)[:300], categories=", ".join(schemas.CATEGORIES))

    def _fallback(
        self, fallback: Callable[[], schemas.Analysis], exc: Exception, usage: list[int]
    ) -> schemas.Analysis:
        kind = error_type(exc)
        if not isinstance(exc, BreakerOpen | BudgetExhausted | InvalidAnswer | RetryAfterTooLong):
            logger.warning("LLM unavailable ({}), answering with the rules analyst", kind)
        self.metrics.fallbacks.labels(kind).inc()
        analysis = fallback()
        return msgspec.structs.replace(
            analysis,
            degraded=True,
            degraded_reason=f"LLM {kind}: {_reason(exc)}",
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
        )

    async def _complete(self, messages: list[dict[str, str]], usage: list[int]) -> tuple[str | None, str]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.llm_max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._request(messages, usage)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _should_retry(self, exc: BaseException) -> bool:
        return is_transient(exc) and self.breaker.state == "closed"

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            if asked > self.settings.llm_retry_max_wait_seconds:
                raise RetryAfterTooLong(asked)
            return asked + random.uniform(0, 0.1 * max(asked, 0.1))
        backoff = self.settings.llm_retry_base_seconds * 2.0 ** (state.attempt_number - 1)
        return min(self.settings.llm_retry_max_wait_seconds, random.uniform(0.5, 1.5) * backoff)

    async def _request(self, messages: list[dict[str, str]], usage: list[int]) -> tuple[str | None, str]:
        await self.budget.check()
        if not self.breaker.allow():
            raise BreakerOpen(f"open after {self.breaker.failures_to_open} consecutive failures")
        await self.limiter.acquire()
        started = time.perf_counter()
        extra: dict[str, Any] = {"response_format": self._format} if self._format else {}
        try:
            response = await self.client.chat.completions.create(
                model=self.settings.llm_model,
                messages=messages,  # type: ignore[arg-type]
                temperature=self.settings.llm_temperature,
                max_tokens=self.settings.llm_max_completion_tokens,
                timeout=self.settings.llm_timeout,
                **extra,
            )
        except Exception as exc:
            self.breaker.failure()
            self.metrics.breaker_open.set(0 if self.breaker.state == "closed" else 1)
            self.metrics.llm_requests.labels(error_type(exc)).inc()
            raise
        finally:
            self.metrics.llm_seconds.observe(time.perf_counter() - started)
        self.breaker.success()
        self.metrics.breaker_open.set(0)
        self.metrics.llm_requests.labels("ok").inc()
        if response.usage is not None:
            usage[0] += response.usage.prompt_tokens
            usage[1] += response.usage.completion_tokens
            self.metrics.llm_tokens.labels("prompt").inc(response.usage.prompt_tokens)
            self.metrics.llm_tokens.labels("completion").inc(response.usage.completion_tokens)
            spent = response.usage.prompt_tokens + response.usage.completion_tokens
            self.metrics.llm_daily_tokens.set(await self.budget.spend(spent))
        text = response.choices[0].message.content if response.choices else None
        return text, response.model or self.settings.llm_model


def _unchanged(text: str) -> str:
    return text


def _reason(exc: Exception) -> str:
    """A short reason without secrets: the SDK's messages may echo request details."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return str(exc)[:200] or type(exc).__name__


__all__ = ["LlmAnalyst", "LlmAnswer", "is_transient", "retry_after"]
