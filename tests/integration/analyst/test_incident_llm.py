"""An incident's analysis against a local chat-completions server: one call per analysis, the root named,
the alert analyst's repair round, breaker, daily budget and anonymiser reused, the rules when it fails."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from services.analyst import AnalystMetrics, LlmAnalyst, LocalTally, RulesAnalyst, TokenBudget
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incident_prompt import INCIDENT_SYSTEM_PROMPT
from services.analyst._prompt import estimate_tokens
from tests.fakes.llm import DEFAULT_ANSWER, FakeLlm
from tests.integration.analyst.conftest import llm_settings
from tests.unit.analyst.test_incident_prompt import NODE, storm


def _analyst(
    fake: FakeLlm, budget: TokenBudget | None = None, **overrides: Any
) -> tuple[IncidentAnalyst, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = AnalystMetrics(registry)
    rules = RulesAnalyst()
    llm = LlmAnalyst(llm_settings(fake, **overrides), rules, metrics, budget=budget)
    return IncidentAnalyst(rules, metrics, llm), registry


def _node_down(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **DEFAULT_ANSWER,
        "category": "availability",
        "root_cause": f"Node {NODE} stopped; its pods went with it",
    }


async def test_one_call_per_analysis_with_the_incident_in_the_prompt(fake_llm: FakeLlm) -> None:
    fake_llm.answer = _node_down
    incident, exemplars = storm(500)
    analyst, registry = _analyst(fake_llm, llm_max_prompt_tokens=4000)
    first = await analyst.analyze(incident, exemplars, use_llm=True)
    assert fake_llm.calls == 1
    second = await analyst.analyze(incident, exemplars, use_llm=True)
    assert fake_llm.calls == 2
    assert analyst.llm is not None
    await analyst.llm.close()

    assert (first.analyzer, first.degraded, first.category) == ("llm", False, "availability")
    # The model named the root's node: its words stand.
    assert first.root_cause == f"Node {NODE} stopped; its pods went with it"
    assert second == first
    request = fake_llm.requests[0]
    assert request.body["messages"][0]["content"] == INCIDENT_SYSTEM_PROMPT
    user = json.loads(request.user_text)
    assert user["root"]["labels"]["node"] == NODE
    assert user["incident"]["member_count"] == 500
    assert user["incident"]["by_alertname"]["KubePodNotReady"] == 400
    assert estimate_tokens(INCIDENT_SYSTEM_PROMPT) + estimate_tokens(request.user_text) <= 4000
    assert first.prompt_tokens > 0
    assert (
        registry.get_sample_value("aiops_incident_analyses_total", {"analyzer": "llm", "degraded": "false"})
        == 2
    )
    assert registry.get_sample_value("aiops_llm_requests_total", {"outcome": "ok"}) == 2


async def test_an_answer_that_does_not_name_the_root_gets_it_named(fake_llm: FakeLlm) -> None:
    incident, exemplars = storm(500)
    analyst, _ = _analyst(fake_llm)
    analysis = await analyst.analyze(incident, exemplars, use_llm=True)
    assert analyst.llm is not None
    await analyst.llm.close()
    assert analysis.analyzer == "llm"
    assert analysis.root_cause == f"{DEFAULT_ANSWER['root_cause']} (root alert: KubeNodeNotReady on {NODE})"


async def test_an_invalid_answer_is_repaired_once_as_for_an_alert(fake_llm: FakeLlm) -> None:
    fake_llm.script("invalid", "valid")
    incident, exemplars = storm(500)
    analyst, _ = _analyst(fake_llm)
    analysis = await analyst.analyze(incident, exemplars, use_llm=True)
    assert analyst.llm is not None
    await analyst.llm.close()
    assert (analysis.analyzer, analysis.degraded) == ("llm", False)
    assert fake_llm.calls == 2
    repair = fake_llm.requests[1].body["messages"]
    assert repair[0]["content"] == INCIDENT_SYSTEM_PROMPT
    assert "could not be used" in repair[-1]["content"]


async def test_a_failing_llm_gives_the_incident_aware_rules_marked_degraded_then_the_breaker_holds(
    fake_llm: FakeLlm,
) -> None:
    fake_llm.script("status:500")
    incident, exemplars = storm(500)
    analyst, registry = _analyst(
        fake_llm, llm_max_retries=0, llm_breaker_failures=1, llm_breaker_cooldown_seconds=60
    )
    first = await analyst.analyze(incident, exemplars, use_llm=True)
    second = await analyst.analyze(incident, exemplars, use_llm=True)
    assert analyst.llm is not None
    await analyst.llm.close()
    assert fake_llm.calls == 1  # the open breaker sends nothing
    for analysis in (first, second):
        assert (analysis.analyzer, analysis.degraded) == ("rules", True)
        assert "explains 499 other alerts (400 KubePodNotReady" in analysis.summary
        assert f"The root alert, KubeNodeNotReady on {NODE}" in analysis.root_cause
    assert first.degraded_reason.startswith("LLM server_error")
    assert "breaker_open" in second.degraded_reason
    assert (
        registry.get_sample_value("aiops_incident_analyses_total", {"analyzer": "rules", "degraded": "true"})
        == 2
    )


async def test_a_spent_daily_budget_sends_nothing_and_says_so(fake_llm: FakeLlm) -> None:
    budget = TokenBudget(1000, LocalTally(), lambda: datetime(2024, 5, 14, 12, tzinfo=UTC))
    await budget.spend(1000)
    incident, exemplars = storm(500)
    analyst, _ = _analyst(fake_llm, budget=budget)
    analysis = await analyst.analyze(incident, exemplars, use_llm=True)
    assert analyst.llm is not None
    await analyst.llm.close()
    assert fake_llm.calls == 0
    assert (analysis.analyzer, analysis.degraded) == ("rules", True)
    assert "LLM_DAILY_TOKENS=1000 reached" in analysis.degraded_reason
    assert "explains 499 other alerts" in analysis.summary


async def test_use_llm_false_makes_no_call(fake_llm: FakeLlm) -> None:
    incident, exemplars = storm(500)
    analyst, _ = _analyst(fake_llm)
    analysis = await analyst.analyze(incident, exemplars, use_llm=False)
    assert analyst.llm is not None
    await analyst.llm.close()
    assert fake_llm.calls == 0
    assert (analysis.analyzer, analysis.degraded) == ("rules", False)


async def test_anonymisation_hides_the_incidents_hosts_and_restores_them_in_the_answer(
    fake_llm: FakeLlm,
) -> None:
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        node = json.loads(user)["root"]["labels"]["node"]
        return {**DEFAULT_ANSWER, "root_cause": f"Node {node} stopped", "evidence": [f"{node} NotReady"]}

    fake_llm.answer = echo
    incident, exemplars = storm(500)
    analyst, _ = _analyst(fake_llm, llm_anonymize=True)
    analysis = await analyst.analyze(incident, exemplars, use_llm=True)
    assert analyst.llm is not None
    await analyst.llm.close()
    sent = json.dumps(fake_llm.requests[0].body)
    assert NODE not in sent
    assert re.search(r"<(?:host|ip)-\d+>", sent)
    assert analysis.root_cause == f"Node {NODE} stopped"
    assert analysis.evidence == [f"{NODE} NotReady"]
