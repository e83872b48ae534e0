"""Building the LLM analyst: from settings for the stage and its incidents consumer, from the
environment for the eval and the bench."""

from __future__ import annotations

from loguru import logger
from prometheus_client import CollectorRegistry

from services.analyst._budget import SharedTally, TokenBudget
from services.analyst._llm import LlmAnalyst
from services.analyst._memory import MemorySettings, PastIncidents
from services.analyst._metrics import AnalystMetrics
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.runtime import Runtime, load


async def _memory(settings: AnalystSettings, runtime: Runtime) -> PastIncidents | None:
    """Similar past incidents from history when DATABASE_URL is set and the database answers."""
    memory_settings = MemorySettings.of(settings)
    if not memory_settings.database_url:
        return None
    try:
        memory = await PastIncidents.open(memory_settings)
    except Exception as exc:
        logger.warning("no memory of past incidents: history did not open ({})", type(exc).__name__)
        return None
    runtime.on_close(memory.close)
    logger.info("memory on: up to {} similar past incidents in each prompt", memory_settings.memory_size)
    return memory


def llm_configured() -> bool:
    return load(AnalystSettings).llm_enabled


def llm_analyst_from_env() -> LlmAnalyst:
    settings = load(AnalystSettings)
    return LlmAnalyst(
        settings, RulesAnalyst.from_dir(settings.rules_dir), AnalystMetrics(CollectorRegistry())
    )


async def llm_for(
    settings: AnalystSettings, runtime: Runtime, rules: RulesAnalyst, metrics: AnalystMetrics
) -> LlmAnalyst | None:
    """The LLM analyst the settings ask for (with the replicas' shared daily token cap), or None."""
    if not settings.llm_enabled:
        return None
    budget = None
    if settings.llm_daily_tokens > 0:
        tally = await SharedTally.open(runtime.js, settings.llm_budget_bucket, settings)
        budget = TokenBudget(settings.llm_daily_tokens, tally)
    llm = LlmAnalyst(settings, rules, metrics, budget=budget)
    runtime.on_close(llm.close)
    llm.memory = await _memory(settings, runtime)
    cap = f"{settings.llm_daily_tokens:,} tokens a day" if budget else "no daily token cap"
    logger.info("LLM analyst: {} at {} ({})", settings.llm_model, settings.llm_base_url, cap)
    return llm
