"""The rules analyst on an incident: the root's cause, said to explain the other members, counted by name."""

from __future__ import annotations

import msgspec
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from tests.unit.analyst.test_incident_prompt import NODE, storm

RULES = RulesAnalyst()


def _analyst() -> tuple[IncidentAnalyst, CollectorRegistry]:
    registry = CollectorRegistry()
    return IncidentAnalyst(RULES, AnalystMetrics(registry)), registry


async def test_the_root_is_named_and_said_to_explain_the_other_members_by_name() -> None:
    incident, exemplars = storm(500)
    analyst, registry = _analyst()
    analysis = await analyst.analyze(incident, exemplars, use_llm=False)
    alone = RULES.analyze(exemplars[0])

    assert (analysis.analyzer, analysis.degraded, analysis.category) == ("rules", False, alone.category)
    assert analysis.summary.startswith(alone.summary)
    assert "explains 499 other alerts (400 KubePodNotReady, 60 TargetDown, 1 ServiceLatencyHigh00" in (
        analysis.summary
    )
    # 39 latency alerts: five named, the rest counted.
    assert analysis.summary.endswith("and 36 more)")
    assert f"The root alert, KubeNodeNotReady on {NODE}, explains the incident's 499 other alerts" in (
        analysis.root_cause
    )
    assert "grouped by node" in analysis.root_cause
    assert "incident inc-0123456789ab: 500 alerts, 500 firing (400 KubePodNotReady, 60 TargetDown" in (
        "\n".join(analysis.evidence)
    )
    members = [line for line in analysis.evidence if line.startswith("member ")]
    assert members[:2] == [
        "member KubePodNotReady namespace=shop pod=checkout-0 node=ip-10-0-1-7 (caused by node, time)",
        "member TargetDown namespace=shop pod=checkout-1 node=ip-10-0-1-7 (caused by node, time)",
    ]
    assert len(members) == 5
    assert analysis.remediation == alone.remediation
    counted = registry.get_sample_value(
        "aiops_incident_analyses_total", {"analyzer": "rules", "degraded": "false"}
    )
    assert counted == 1


async def test_a_one_alert_incident_reads_as_the_alert_alone() -> None:
    incident, exemplars = storm(500)
    root = incident.root
    assert root is not None
    single = msgspec.structs.replace(
        incident, members=[root], member_count=1, firing_count=1, alertnames={"KubeNodeNotReady": 1}
    )
    analysis = await _analyst()[0].analyze(single, exemplars[:1], use_llm=False)
    assert analysis == RULES.analyze(exemplars[0])


async def test_without_the_roots_message_the_root_member_stands_in() -> None:
    incident, exemplars = storm(500)
    # The store lost the root's exemplar: the others must not be taken for the root.
    analysis = await _analyst()[0].analyze(incident, exemplars[1:], use_llm=False)
    assert analysis.summary.startswith(f"KubeNodeNotReady on {NODE}: the node is not ready")
    assert f"The root alert, KubeNodeNotReady on {NODE}" in analysis.root_cause


async def test_an_incident_with_no_root_and_no_exemplars_still_gets_an_analysis() -> None:
    incident, _ = storm(500)
    bare = msgspec.structs.replace(incident, root=None, members=[])
    analysis = await _analyst()[0].analyze(bare, [], use_llm=False)
    assert analysis.analyzer == "rules"
    assert "explains 499 other alerts" in analysis.summary


async def test_wanting_the_llm_without_one_answers_with_the_rules_not_degraded() -> None:
    incident, exemplars = storm(500)
    analysis = await _analyst()[0].analyze(incident, exemplars, use_llm=True)
    assert (analysis.analyzer, analysis.degraded) == ("rules", False)
    assert "explains 499 other alerts" in analysis.summary


def test_member_lines_and_counts_are_bounded_for_a_50000_alert_incident() -> None:
    incident, exemplars = storm(50_000)
    analysis = IncidentAnalyst(RULES, AnalystMetrics(CollectorRegistry())).explain_by_rules(
        incident, exemplars[0]
    )
    assert len(analysis.evidence) <= len(RULES.analyze(exemplars[0]).evidence) + 1 + 5
    assert len(analysis.summary) < 400
    assert "explains 49999 other alerts (49900 KubePodNotReady" in analysis.summary
    assert isinstance(analysis, schemas.Analysis)
