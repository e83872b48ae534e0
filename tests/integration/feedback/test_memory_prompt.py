"""The LLM is told what people said about similar past incidents (history in SQLite, a fake LLM server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, LlmAnalyst, RulesAnalyst
from services.analyst._memory import MemorySettings, PastIncidents
from services.analyst.eval import DEFAULT_DIR
from services.analyst.eval._scenarios import load_scenario
from services.history import History
from tests.fakes.llm import FakeLlm
from tests.integration.analyst.conftest import llm_settings

OOM = load_scenario(DEFAULT_DIR / "01-crashloop-oom-java.yaml").message
CAUSE = "a memory leak in the PDF renderer since 2.4.0"


def firing(days_ago: float, pod: str) -> schemas.EnrichedAlert:
    """The scenario's alert, fired ``days_ago`` days before now on ``pod``."""
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    alert = msgspec.structs.replace(OOM.alert, starts_at=starts, labels={**OOM.alert.labels, "pod": pod})
    return msgspec.structs.replace(OOM, alert=alert, id=schemas.alert_id(alert), received_at=starts)


async def test_the_prompt_lists_similar_past_incidents_with_the_persons_cause(
    fake_llm: FakeLlm, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    history = await History.open(url)
    past = firing(6, "checkout-api-7d9f8b6c4-bcdfg")
    analysis = schemas.Analysis(
        summary="crash loop", root_cause="restarts", category="crash_loop", confidence=0.5, analyzer="rules"
    )
    await history.write(alerts=[schemas.analyzed(past, analysis, past.received_at)])
    correction = schemas.Feedback(
        id="f1",
        target="alert",
        target_id=past.id,
        verdict="corrected",
        category="crash_loop",
        corrected_category="memory_pressure",
        actual_cause=CAUSE,
        actual_fix="rolled back to 2.3.1",
        given_at=datetime.now(UTC),
    )
    await history.write(feedback=[correction])
    await history.close()

    settings = llm_settings(fake_llm, database_url=url)
    llm = LlmAnalyst(settings, RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    llm.memory = await PastIncidents.open(MemorySettings.of(settings))
    try:
        await llm.analyze(firing(0, "checkout-api-7d9f8b6c4-x2x9k"))
    finally:
        await llm.memory.close()
        await llm.close()

    (request,) = fake_llm.requests
    context = json.loads(request.user_text)
    [recalled] = context["similar_past"]["incidents"]
    assert recalled["cause"] == CAUSE
    assert recalled["fix"] == "rolled back to 2.3.1"
    assert (recalled["category"], recalled["judged"], recalled["same_rule"]) == (
        "memory_pressure",
        "corrected by a person",
        True,
    )


async def test_without_a_reachable_history_the_analysis_goes_on_without_memory(
    fake_llm: FakeLlm, tmp_path: Path
) -> None:
    # A history file with no tables: every lookup fails, as when the database is broken.
    settings = llm_settings(fake_llm, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    llm = LlmAnalyst(settings, RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    llm.memory = await PastIncidents.open(MemorySettings.of(settings))
    try:
        analysis = await llm.analyze(firing(0, "checkout-api-7d9f8b6c4-x2x9k"))
    finally:
        await llm.memory.close()
        await llm.close()
    assert (analysis.analyzer, analysis.degraded) == ("llm", False)
    assert "similar_past" not in json.loads(fake_llm.requests[0].user_text)
