"""Verdicts exported as scenarios: `just eval` reads them back and reports precision per category."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

import schemas
from services.analyst.eval.__main__ import main as eval_main
from services.analyst.eval._feedback import calibration, feedback_lines, load_verdicts, precision_by_category
from services.analyst.eval._scenarios import DEFAULT_DIR, load_scenario, load_scenarios
from services.cli._feedback import VERDICTS_FILE, write_export

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def analysed(scenario_file: str, category: str, confidence: float) -> schemas.AnalyzedAlert:
    message = load_scenario(DEFAULT_DIR / scenario_file).message
    analysis = schemas.Analysis(
        summary="s",
        root_cause="r",
        category=category,  # type: ignore[arg-type]
        confidence=confidence,
        analyzer="rules",
    )
    return schemas.analyzed(message, analysis, NOW)


def verdict(
    message: schemas.AnalyzedAlert, verdict: schemas.Verdict, corrected: str | None = None
) -> schemas.Feedback:
    return schemas.Feedback(
        id=f"f-{message.id}",
        target="alert",
        target_id=message.id,
        verdict=verdict,
        category=message.analysis.category,
        corrected_category=corrected,  # type: ignore[arg-type]
        author="ada",
        given_at=NOW,
    )


def test_verdicts_become_scenarios_eval_reads_with_the_human_category(tmp_path: Path) -> None:
    oom = analysed("01-crashloop-oom-java.yaml", "memory_pressure", 0.9)
    pool = analysed("03-latency-db-pool.yaml", "traffic_spike", 0.7)
    disk = analysed("04-node-disk-filling.yaml", "disk_io", 0.35)
    judged = [
        (verdict(oom, "confirmed"), oom, oom.analysis),
        (verdict(pool, "corrected", "dependency_failure"), pool, pool.analysis),
        # "Wrong cause" from Slack: no right category, so a verdict but no scenario.
        (verdict(disk, "corrected"), disk, disk.analysis),
    ]
    assert write_export(judged, tmp_path) == 2
    scenarios = {s.message.id: s for s in load_scenarios(tmp_path)}
    assert set(scenarios) == {oom.id, pool.id}
    assert scenarios[oom.id].expected.category == "memory_pressure"
    assert scenarios[pool.id].expected.category == "dependency_failure"
    # The evidence survives the trip: the scenario replays what the analyst saw.
    assert msgspec.to_builtins(scenarios[oom.id].message.evidence) == msgspec.to_builtins(oom.evidence)
    assert scenarios[oom.id].message.alert == oom.alert

    verdicts = load_verdicts(tmp_path)
    assert len(verdicts) == 3
    by_category = {p.category: (p.judged, p.confirmed) for p in precision_by_category(verdicts)}
    assert by_category == {"memory_pressure": (1, 1), "traffic_spike": (1, 0), "disk_io": (1, 0)}
    bands = {b.label: (b.count, b.right) for b in calibration(verdicts)}
    assert bands[">=0.75"] == (1, 1)
    assert bands["0.6-0.75"] == (1, 0)
    assert bands["0.3-0.45"] == (1, 0)
    report = "\n".join(feedback_lines(tmp_path))
    assert "human verdicts: 3, confirmed 1 (33.3%)" in report


def test_eval_with_feedback_prints_precision_and_todays_answers(tmp_path: Path, capsys: object) -> None:
    oom = analysed("01-crashloop-oom-java.yaml", "memory_pressure", 0.9)
    write_export([(verdict(oom, "confirmed"), oom, oom.analysis)], tmp_path)
    eval_main(["--feedback", str(tmp_path)])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "== feedback" in out
    assert "memory_pressure" in out
    assert "100%" in out
    assert "rules analyst today, on the verdicts' cases: accuracy 100.0% (1/1)" in out


def test_eval_says_where_verdicts_are_missing(tmp_path: Path) -> None:
    assert not (tmp_path / VERDICTS_FILE).exists()
    assert "no verdicts at" in feedback_lines(tmp_path)[0]
