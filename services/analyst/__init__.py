"""The analyst stage: explains each enriched alert with an LLM or the embedded rules."""

# ruff: noqa: E402 -- whether the rules analysis runs compiled (services/compiled.py) is settled before it loads.
from services import compiled

compiled.install()

from services.analyst._anonymize import Anonymizer
from services.analyst._answer import LlmAnswer, parse_answer
from services.analyst._breaker import CircuitBreaker, RateLimiter
from services.analyst._budget import LocalTally, SharedTally, TokenBudget
from services.analyst._build import SPEC, build
from services.analyst._cache import EpisodeCache, cache_key
from services.analyst._catalogue import Catalogue, load_catalogue
from services.analyst._errors import BreakerOpen, BudgetExhausted, InvalidAnswer, RetryAfterTooLong
from services.analyst._handler import Analyst
from services.analyst._llm import LlmAnalyst
from services.analyst._metrics import AnalystMetrics
from services.analyst._prompt import SYSTEM_PROMPT, build_prompt, estimate_tokens
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings

__all__ = [
    "SPEC",
    "SYSTEM_PROMPT",
    "Analyst",
    "AnalystMetrics",
    "AnalystSettings",
    "Anonymizer",
    "BreakerOpen",
    "BudgetExhausted",
    "Catalogue",
    "CircuitBreaker",
    "EpisodeCache",
    "InvalidAnswer",
    "LlmAnalyst",
    "LlmAnswer",
    "LocalTally",
    "RateLimiter",
    "RetryAfterTooLong",
    "RulesAnalyst",
    "SharedTally",
    "TokenBudget",
    "build",
    "build_prompt",
    "cache_key",
    "estimate_tokens",
    "load_catalogue",
    "parse_answer",
]
