"""Text a person can trust: no rule ever leaves a placeholder unfilled, on any alert.

Every rule is rendered against the variables of every scenario's alert plus only what a match
of that rule's own conditions always provides (a text match gives its signature, a metric match
its metric and values). A variable outside that must have a default in the template; otherwise a
message would say "the container" where the reader needs a name.
"""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst, load_catalogue
from services.analyst._catalogue import Rule, Step, Text, Variant
from services.analyst._handler import Analyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._rules import render
from services.analyst._view import view_of
from services.analyst.eval import build_message, load_scenarios

SIGNAL_VARIABLES = {"signal_says": "x", "signal_basis": "its name says x", "signal_symptoms": ""}
METRIC_VARIABLES = {"metric": "m", "series": "", "value": "1", "peak": "2", "low": "0", "change_pct": "+5%"}


def _guaranteed(rule: Rule) -> dict[str, str]:
    """What every block of the rule provides when it matches (the weakest block decides)."""
    provided: list[set[str]] = []
    for block in rule.when:
        names = set()
        if block.text or block.logs:
            names |= {"signature"} | ({"log", "log_count"} if block.logs else set())
        if block.metrics:
            names |= set(METRIC_VARIABLES)
        provided.append(names)
    common = set.intersection(*provided) if provided else set()
    return {name: METRIC_VARIABLES.get(name, "sig") for name in common}


def _step_guarantees(step: str | Step | Variant) -> tuple[str, dict[str, str]]:
    """A step's or a variant's template, and the variables its conditions guarantee a value (a step
    given `unless` a variable is empty says that variable without a default)."""
    if isinstance(step, str):
        return step, {}
    non_empty = [name for name, value in step.unless.items() if re.fullmatch(value, "", re.I)]
    non_empty += [name for name, value in step.when.items() if not re.fullmatch(value, "", re.I)]
    return step.step if isinstance(step, Step) else step.text, dict.fromkeys(non_empty, "x")


def _variants(text: Text) -> list[str | Variant]:
    return [text] if isinstance(text, str) else list(text)


SCENARIOS = load_scenarios()
RULES = load_catalogue().rules


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_no_rule_leaves_a_placeholder_on_any_scenario(rule: Rule) -> None:
    problems = []
    for scenario in SCENARIOS:
        variables = {**view_of(scenario.message).variables(), **SIGNAL_VARIABLES, **_guaranteed(rule)}
        missing: list[str] = []
        for template, given in map(
            _step_guarantees, [*_variants(rule.summary), *_variants(rule.root_cause), *rule.remediation]
        ):
            render(template, {**variables, **given}, missing)  # what a condition guarantees holds
        if missing:
            problems.append((scenario.name, sorted(set(missing))))
    assert not problems, problems[:3]


def test_every_scenario_reads_without_raw_placeholders_or_exponents() -> None:
    analyst = RulesAnalyst()
    for scenario in SCENARIOS:
        analysis = analyst.analyze(scenario.message)
        text = " ".join([analysis.summary, analysis.root_cause, *analysis.evidence])
        assert "${" not in text, scenario.name
        assert not re.search(r"\d\.?\d*e[+-]\d", text), (scenario.name, text)
        assert "<value>" not in text, scenario.name
        assert "<container>" not in text, scenario.name


async def test_evidence_lines_are_made_safe_as_templated_prose_is() -> None:
    # Label values, a log sample and an enrichment error as hostile as they come: a newline that
    # would start a new line of the message, a backtick that would open a code span, 2,000 characters.
    long_value = "v" * 2000
    message = build_message(
        {
            "alert": {
                "labels": {
                    "alertname": "LedgerPodCrashLooping",
                    "namespace": "ledger",
                    "pod": "ledger-0",
                    "severity": "critical\n# injected heading",
                },
                "annotations": {"summary": "Ledger `restarts`\nagain"},
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "metrics": [
                {
                    "name": "kube_pod_container_status_last_terminated_reason",
                    "query": 'kube_pod_container_status_last_terminated_reason{namespace="ledger"}',
                    "series": [
                        {
                            "labels": {
                                "pod": "ledger-0",
                                "reason": "OOMKilled",
                                "container": "bad`value\nsecond line",
                                "note": long_value,
                            },
                            "min": 1,
                            "max": 9,
                            "last": 9,
                            "change_pct": 800,
                        }
                    ],
                }
            ],
            "logs": [{"severity": "error", "count": 3, "sample": "panic: `boom`\n\tat ledger.main"}],
            "errors": [{"source": "loki", "reason": "HTTP 500:\n" + long_value}],
        }
    )
    # The rules write the lines as they came; they are made safe once, where the analysis is published.
    assert any("\n" in line for line in RulesAnalyst().analyze(message).evidence)
    analysis = (await _published(message)).analysis
    assert len(analysis.evidence) >= 3
    for line in analysis.evidence:
        assert line.isprintable(), line  # no newline, tab or other control character
        assert "`" not in line, line
        assert len(line) <= 600, len(line)
    joined = "\n".join(analysis.evidence)
    assert "critical # injected heading" in joined  # made one line, not dropped
    series = next(line for line in analysis.evidence if line.startswith("metric "))
    # The long value bounded around an ellipsis: the line still says what it is and its figures.
    assert "…" in series
    assert series.endswith("change +800%")
    assert "bad'value second line" in series


async def _published(message: schemas.EnrichedAlert, llm: object = None) -> schemas.AnalyzedAlert:
    analyst = Analyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()), llm=llm)  # type: ignore[arg-type]
    return await analyst.handle(message)


# An LLM's answer quotes the input, as the prompt asks: a log sample with its newline and backticks,
# a label value as long as it came.
HOSTILE_LINES = ["log (error, x3): panic: `boom`\n\tat ledger.main", "label note=" + "v" * 2000]


class _QuotingLlm:
    async def analyze(self, message: schemas.EnrichedAlert) -> schemas.Analysis:
        return schemas.Analysis(
            summary="Ledger panics",
            root_cause="insufficient evidence",
            category="crash_loop",
            confidence=0.4,
            evidence=list(HOSTILE_LINES),
            analyzer="llm",
        )


def _safe(lines: list[str]) -> None:
    for line in lines:
        assert line.isprintable(), line
        assert "`" not in line, line
        assert len(line) <= 600, len(line)


async def test_evidence_any_analyst_wrote_is_made_safe_where_it_is_published() -> None:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "LedgerPanics", "pod": "ledger-0"},
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    by_llm = (await _published(message, _QuotingLlm())).analysis
    assert by_llm.analyzer == "llm"
    _safe(by_llm.evidence)
    assert by_llm.evidence[0] == "log (error, x3): panic: 'boom' at ledger.main"
    assert "…" in by_llm.evidence[1]
    # An incident's analysis, from the rules or the LLM, is published by the incident: made safe there.
    answer = await _QuotingLlm().analyze(message)
    incidents = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    _safe(incidents.lone_root(answer).evidence)
