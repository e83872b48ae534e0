"""The public benchmark inputs, as `just eval --benchmarks` reads them: converted, analysed, labelled, scored.

The inputs live in ../shared/benchmarks (read at run time, never copied); without them every test
here skips. The `test_floor_*` tests assert the figures issue 11 asks of the rules analyst, through
the code the CLI uses: they fail until the analyst reaches them, and stay as the guard afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
import yaml

import schemas
from services.analyst import RulesAnalyst
from services.analyst.eval._benchmarks import (
    BenchmarkSet,
    incident_message,
    load_incidents,
    load_rules,
    rule_message,
)
from services.analyst.eval._floors import INCIDENTS_FLOOR, PUBLIC_RULES_FLOOR, shortfalls
from services.analyst.eval._paths import DEFAULT_LABELS_DIR, INCIDENTS_INPUT, RULES_INPUT
from services.analyst.eval._run import Measured, measure_benchmarks, run_rules
from services.analyst.eval._score import Report

BENCHMARKS = Path(__file__).resolve().parents[3] / ".." / "shared" / "benchmarks"

pytestmark = pytest.mark.skipif(
    not (BENCHMARKS / RULES_INPUT).is_file() or not (BENCHMARKS / INCIDENTS_INPUT).is_file(),
    reason=f"the public benchmark inputs are not at {BENCHMARKS} (CI provides them; see docs/evaluation.md)",
)


def _entries(name: str, key: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((BENCHMARKS / name).read_text(encoding="utf-8"))[key]
    return entries


@pytest.fixture(scope="module")
def analyst() -> RulesAnalyst:
    return RulesAnalyst.from_dir("")


@pytest.fixture(scope="module")
def measured() -> dict[str, Measured]:
    return {m.benchmark.name: m for m in measure_benchmarks(BENCHMARKS)}


def _valid(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    """The message as the next stage decodes it from the wire: schema-valid or an exception."""
    return schemas.decode(schemas.encode(message), schemas.EnrichedAlert)


def _analysed(analyst: RulesAnalyst, message: schemas.EnrichedAlert) -> schemas.Analysis:
    analysis = analyst.analyze(message)
    return msgspec.convert(msgspec.to_builtins(analysis), schemas.Analysis)


def test_every_public_rule_becomes_the_alert_prometheus_fires_and_is_analysed(analyst: RulesAnalyst) -> None:
    rules = _entries(RULES_INPUT, "rules")
    assert len(rules) == 500
    for rule in rules:
        message = _valid(rule_message(rule))
        alert = message.alert
        assert alert.labels["alertname"] == rule["alert"]
        assert alert.status == "firing"
        # The pipeline reads the expression back from the link, as Prometheus wrote it.
        assert parse_qs(urlsplit(alert.generator_url).query)["g0.expr"] == [rule["expr"]]
        assert message.evidence.metrics == []
        assert message.evidence.logs is None
        assert _analysed(analyst, message).category in schemas.CATEGORIES


def test_every_incident_becomes_an_alert_with_its_logs_and_series_and_is_analysed(
    analyst: RulesAnalyst,
) -> None:
    cases = _entries(INCIDENTS_INPUT, "cases")
    assert len(cases) == 33
    with_series = with_logs = 0
    for case in cases:
        message, skipped = incident_message(case)
        message = _valid(message)
        assert skipped == 0, f"{case['id']}: {skipped} parts could not be mapped"
        with_series += bool(message.evidence.metrics)
        logs = message.evidence.logs
        with_logs += bool(logs and logs.templates)
        assert _analysed(analyst, message).category in schemas.CATEGORIES
    # Most cases carry series and logs; the enricher's own code must turn them into evidence.
    assert with_series >= sum(bool(c["series"]) for c in cases) - 2
    assert with_logs >= sum(any(s["lines"] for s in c["logs"]) for c in cases) - 3


def _label_count(pattern: str) -> int:
    total = 0
    for path in DEFAULT_LABELS_DIR.glob(pattern):
        total += len((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("labels") or [])
    return total


@pytest.mark.parametrize(
    ("pattern", "load", "entries"),
    [("prometheus-rules*.yaml", load_rules, 500), ("holmesgpt-incidents*.yaml", load_incidents, 33)],
)
def test_every_entry_has_a_label_once_the_label_files_are_complete(
    pattern: str, load: Any, entries: int
) -> None:
    # The labellers write these files entry by entry; judge them once they hold one label per entry.
    if _label_count(pattern) < entries:
        pytest.skip(f"the {pattern} label files hold fewer than {entries} labels: still being written")
    benchmark: BenchmarkSet = load(BENCHMARKS)
    assert benchmark.problems == []
    assert benchmark.entries == entries
    indexes = [s.index for s in benchmark.scenarios]
    assert None not in indexes  # each scenario of a benchmark set says which entry it is
    assert sorted(i for i in indexes if i is not None) == list(range(entries))


def test_a_partly_labelled_set_scores_only_the_labelled_entries(
    tmp_path: Path, analyst: RulesAnalyst
) -> None:
    rules = _entries(RULES_INPUT, "rules")
    labels = [
        {"index": 3, "alert": rules[3]["alert"], "category": "availability"},
        {"index": 7, "alert": "NotTheNameAtSeven", "category": "network"},
    ]
    (tmp_path / "prometheus-rules-part.yaml").write_text(yaml.safe_dump({"labels": labels}), encoding="utf-8")
    benchmark = load_rules(BENCHMARKS, tmp_path)
    assert [s.index for s in benchmark.scenarios] == [3]
    assert any("label 7" in problem for problem in benchmark.problems)
    assert run_rules(benchmark.scenarios, analyst=analyst).total == 1


def _floor_failures(name: str, measured: dict[str, Measured]) -> tuple[list[str], Report]:
    report = measured[name].report
    wrong = [(o.scenario.index, o.scenario.name, o.analysis.category) for o in report.wrong]
    return [*shortfalls(name, report), f"wrong: {wrong}"], report


# FLOOR: the goal of issue 11 for the rules analyst on the 500 public rules. Fails until it is reached.
def test_floor_public_rules_accuracy_and_confident_wrong(measured: dict[str, Measured]) -> None:
    found, report = _floor_failures("prometheus-rules", measured)
    assert report.total > 0
    assert report.accuracy >= PUBLIC_RULES_FLOOR.accuracy, found
    assert PUBLIC_RULES_FLOOR.max_confident_wrong is not None
    assert report.confident_wrong_rate <= PUBLIC_RULES_FLOOR.max_confident_wrong, found


# FLOOR: the goal of issue 11 for the rules analyst on the 33 peer incidents. Fails until it is reached.
def test_floor_incidents_accuracy(measured: dict[str, Measured]) -> None:
    found, report = _floor_failures("holmesgpt-incidents", measured)
    assert report.total > 0
    assert report.accuracy >= INCIDENTS_FLOOR.accuracy, found
