"""Building the LLM analyst from the environment, for the eval and the bench."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.analyst._llm import LlmAnalyst
from services.analyst._metrics import AnalystMetrics
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.runtime import load


def llm_configured() -> bool:
    return load(AnalystSettings).llm_enabled


def llm_analyst_from_env() -> LlmAnalyst:
    settings = load(AnalystSettings)
    return LlmAnalyst(
        settings, RulesAnalyst.from_dir(settings.rules_dir), AnalystMetrics(CollectorRegistry())
    )
