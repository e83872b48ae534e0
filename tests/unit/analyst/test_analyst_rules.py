"""The rules analyst: right cause from the evidence, honest confidence, a catalogue users extend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import schemas
from services.analyst import RulesAnalyst, load_catalogue
from services.analyst._rules import render
from services.analyst.eval import build_message, load_scenarios
from services.analyst.eval.__main__ import RULES_FLOOR, run_rules
from services.runtime import ConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "analyst"


def _message(
    labels: dict[str, str], logs: list[str] | None = None, metrics: list[dict[str, Any]] | None = None
) -> schemas.EnrichedAlert:
    return build_message(
        {
            "alert": {"labels": labels, "startsAt": "2024-05-14T09:12:00Z"},
            "logs": [{"sample": line, "count": 3} for line in logs or []],
            "metrics": metrics or [],
        }
    )


def test_rules_reach_the_accuracy_floor_on_the_scenario_set() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 25
    report = run_rules(scenarios)
    assert report.accuracy >= RULES_FLOOR, [
        (o.scenario.name, o.analysis.category) for o in report.outcomes if not o.correct
    ]
    assert report.fact_recall >= 0.85


def test_every_category_is_exercised_by_some_scenario() -> None:
    expected = {s.expected.category for s in load_scenarios()}
    assert len(expected) >= 12


def test_the_evidence_beats_the_alert_name() -> None:
    analyst = RulesAnalyst()
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-1", "container": "cart"}
    plain = analyst.analyze(_message(labels))
    oom = analyst.analyze(_message(labels, ["Last State: Terminated Reason: OOMKilled Exit Code: 137"]))
    env = analyst.analyze(_message(labels, ["fatal: environment variable DATABASE_URL is not set"]))
    assert (plain.category, oom.category, env.category) == ("crash_loop", "memory_pressure", "config_error")
    assert "DATABASE_URL" in env.root_cause
    assert any("OOMKilled" in line for line in oom.evidence)
    assert oom.confidence > plain.confidence


def test_remediation_names_the_alerting_object() -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-1", "container": "cart"}
    analysis = RulesAnalyst().analyze(_message(labels, ["OOMKilled"]))
    assert any("kubectl -n shop describe pod cart-1" in step for step in analysis.remediation)
    assert analysis.analyzer == "rules"
    assert analysis.model == "rules:oom-killed"


def test_an_alert_that_names_no_target_or_volume_reads_as_such() -> None:
    # The README's own `aiops send --label alertname=DiskFull --annotation summary=...`: no label names
    # the machine or the filesystem. The answer must not call the alert its own target, nor hand the
    # reader a command with prose where the path goes.
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "DiskFull", "severity": "critical"},
                "annotations": {"summary": "/data 97% full"},
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    analysis = RulesAnalyst().analyze(message)
    assert analysis.category == "disk_capacity"
    assert "DiskFull on DiskFull" not in analysis.summary
    assert analysis.summary.startswith("DiskFull on the unnamed target:")
    du = next(step for step in analysis.remediation if "du -xh" in step)
    assert "--max-depth=2 <mountpoint> |" in du
    assert "the volume" not in du
    named = RulesAnalyst().analyze(
        _message({"alertname": "DiskFull", "instance": "db-1", "mountpoint": "/data"})
    )
    assert named.summary.startswith("DiskFull on db-1:")
    assert any("--max-depth=2 /data |" in step for step in named.remediation)


def test_a_dependency_refusal_is_availability_when_the_alert_is_the_target_itself() -> None:
    log = ["Get http://10.0.0.4:9100/metrics: dial tcp 10.0.0.4:9100: connect: connection refused"]
    down = RulesAnalyst().analyze(_message({"alertname": "TargetDown", "job": "node"}, log))
    caller = RulesAnalyst().analyze(_message({"alertname": "HTTPErrorRateHigh", "job": "api"}, log))
    assert down.category == "availability"
    assert caller.category == "dependency_failure"
    assert "10.0.0.4:9100" in caller.root_cause


def test_a_climb_differs_from_a_spike() -> None:
    series = {"labels": {}, "min": 100, "max": 450, "last": 440}
    spike = {
        "name": "rate",
        "query": "sum(rate(http_requests_total[5m]))",
        "series": [{**series, "change_pct": 340}],
    }
    flat = {
        "name": "rate",
        "query": "sum(rate(http_requests_total[5m]))",
        "series": [{**series, "change_pct": 3}],
    }
    labels = {"alertname": "APILatencyHigh", "job": "api"}
    assert RulesAnalyst().analyze(_message(labels, metrics=[spike])).category == "traffic_spike"
    assert RulesAnalyst().analyze(_message(labels, metrics=[flat])).category != "traffic_spike"


def test_without_evidence_the_answer_says_so_and_is_less_confident() -> None:
    labels = {"alertname": "NodeFilesystemAlmostOutOfSpace", "instance": "n1:9100", "mountpoint": "/data"}
    bare = RulesAnalyst().analyze(_message(labels))
    metric = {
        "name": "avail",
        "query": "node_filesystem_avail_bytes",
        "series": [{"min": 1, "max": 9, "last": 1, "trend_per_min": -0.1}],
    }
    backed = RulesAnalyst().analyze(_message(labels, metrics=[metric]))
    assert bare.category == backed.category == "disk_capacity"
    assert bare.confidence < backed.confidence
    assert any("no metric or log evidence" in line for line in bare.evidence)


def test_an_unknown_alert_gets_the_fallback_with_low_confidence() -> None:
    analysis = RulesAnalyst().analyze(_message({"alertname": "SomethingOdd"}))
    assert analysis.category == "unknown"
    assert analysis.confidence <= 0.2
    assert analysis.remediation


def test_user_rules_add_replace_and_disable_builtin_ones() -> None:
    analyst = RulesAnalyst.from_dir(str(FIXTURES))
    late = analyst.analyze(_message({"alertname": "NightlyReconciliationLate", "team": "finance"}))
    assert (late.category, late.model) == ("dependency_failure", "rules:reconciliation-late")
    assert "finance" in late.root_cause
    crash = analyst.analyze(_message({"alertname": "KubePodCrashLooping", "pod": "p-1"}, ["panic: boom"]))
    assert crash.summary == "custom crash loop text for p-1"
    ids = {rule.id for rule in load_catalogue(str(FIXTURES)).rules}
    assert "panic-without-cause" not in ids


def test_a_bad_rules_file_is_a_clear_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules:\n  - id: x\n    when: [{text: ['(unclosed']}]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*rule 'x'.*bad regex"):
        load_catalogue(str(tmp_path))
    (tmp_path / "bad.yaml").write_text("rules:\n  - id: y\n    category: sadness\n    when: [{}]\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_catalogue(str(tmp_path))
    with pytest.raises(ConfigError, match="RULES_DIR"):
        load_catalogue(str(tmp_path / "missing"))


def test_templates_fill_defaults_and_name_what_is_missing_in_words() -> None:
    missing: list[str] = []
    assert render("${pod} on ${node|some node}", {"pod": "p"}, missing) == "p on some node"
    assert render("restarts of ${container}", {}, missing) == "restarts of the container"
    assert missing == ["container"]
