"""Why the LLM gave no analysis, and what happens then: never a failed message.

Every one of these ends the same way: the rules analyst answers instead, the analysis is published
with ``degraded=True`` and ``degraded_reason="LLM <error_type>: <reason>"``, and
``aiops_llm_fallbacks_total{error_type}`` counts it. The error, then its ``error_type`` label:

BreakerOpen                breaker_open          failed repeatedly: not called until the cool-down ends
BudgetExhausted            budget_exhausted      the day's tokens reached LLM_DAILY_TOKENS
RetryAfterTooLong          retry_after_too_long  asked to wait more than LLM_RETRY_MAX_WAIT_SECONDS
InvalidAnswer              invalid_answer        not the JSON asked for, even after one repair round
openai.APITimeoutError     timeout               retried first (``is_transient``), as are 408, 429, 5xx
openai.APIConnectionError  connection            and refused connections
openai.APIStatusError      rate_limited (429), server_error (5xx), http_<status> (other 4xx: not retried)
anything else              its class name
"""

from __future__ import annotations

import openai


class BreakerOpen(Exception):
    """The provider failed repeatedly; not calling it until the cool-down ends."""


class BudgetExhausted(Exception):
    """The day's tokens reached LLM_DAILY_TOKENS; the message says how many and when it resets."""


class RetryAfterTooLong(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"provider asked to wait {seconds:.0f}s")
        self.seconds = seconds


class InvalidAnswer(Exception):
    """The model's text is not the JSON object asked for; the message says what is wrong."""


def is_transient(exc: BaseException) -> bool:
    """Worth another request: 408, 429, 5xx, timeouts and refused connections."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500 or exc.status_code == 408
    return isinstance(exc, openai.APITimeoutError | openai.APIConnectionError)


def error_type(exc: BaseException) -> str:
    """A small, bounded vocabulary for metrics and degraded reasons."""
    if isinstance(exc, BreakerOpen):
        return "breaker_open"
    if isinstance(exc, BudgetExhausted):
        return "budget_exhausted"
    if isinstance(exc, RetryAfterTooLong):
        return "retry_after_too_long"
    if isinstance(exc, InvalidAnswer):
        return "invalid_answer"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return "rate_limited"
        return "server_error" if exc.status_code >= 500 else f"http_{exc.status_code}"
    return type(exc).__name__
