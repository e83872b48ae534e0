"""Wiring: settings and live connections in, the handler out."""

from __future__ import annotations

from loguru import logger

import schemas
from services.analyst._budget import SharedTally, TokenBudget
from services.analyst._cache import EpisodeCache
from services.analyst._handler import Analyst
from services.analyst._llm import LlmAnalyst
from services.analyst._metrics import AnalystMetrics
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.runtime import Handler, Runtime, StageSpec


async def build(settings: AnalystSettings, runtime: Runtime) -> Handler:
    rules = RulesAnalyst.from_dir(settings.rules_dir)
    metrics = AnalystMetrics(runtime.registry)
    llm = None
    if settings.llm_enabled:
        budget = None
        if settings.llm_daily_tokens > 0:
            tally = await SharedTally.open(runtime.js, settings.llm_budget_bucket, settings)
            budget = TokenBudget(settings.llm_daily_tokens, tally)
        llm = LlmAnalyst(settings, rules, metrics, budget=budget)
        runtime.on_close(llm.close)
        cap = f"{settings.llm_daily_tokens:,} tokens a day" if budget else "no daily token cap"
        logger.info("LLM analyst: {} at {} ({})", settings.llm_model, settings.llm_base_url, cap)
    else:
        logger.info("no LLM_API_KEY: the rules analyst answers ({} rules)", len(rules.catalogue.rules))
    cache = None
    # The cache saves LLM calls; for the rules analyst a key-value round trip costs more than the rules.
    if settings.analysis_cache and llm is not None:
        cache = await EpisodeCache.open(
            runtime.js, settings.analysis_cache_bucket, settings.analysis_cache_ttl_hours, settings
        )
    analyst = Analyst(rules, metrics, llm=llm, cache=cache)
    # Rules alone wait on nothing: the runtime handles whole batches.
    return Handler(analyst.handle, inline=llm is None and cache is None)


SPEC: StageSpec[schemas.EnrichedAlert, AnalystSettings] = StageSpec(
    name="analyst",
    input_subject=schemas.ENRICHED,
    input_type=schemas.EnrichedAlert,
    output_subject=schemas.ANALYZED,
    build=build,
)
