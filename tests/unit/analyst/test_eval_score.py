"""The eval's scoring on hand-made outcomes: agreement, `unknown` rate, confident-wrong, calibration."""

from __future__ import annotations

import schemas
from services.analyst.eval import Expected, Outcome, Report, Scenario, build_message
from services.analyst.eval._floors import FLOORS, Floor, shortfalls
from services.analyst.eval._report import summary, wrong_entries
from services.analyst.eval._score import Failure, band_of

_MESSAGE = build_message({"alert": {"labels": {"alertname": "Demo"}, "startsAt": "2024-05-14T09:12:00Z"}})


def _outcome(
    label: schemas.Category,
    got: schemas.Category,
    confidence: float,
    also: list[schemas.Category] | None = None,
) -> Outcome:
    scenario = Scenario(
        name="Demo",
        path="set#0",
        message=_MESSAGE,
        expected=Expected(category=label, also=also or []),
        index=0,
    )
    analysis = schemas.Analysis(
        summary="s", root_cause="r", category=got, confidence=confidence, analyzer="rules", model="rules:x"
    )
    return Outcome(scenario, analysis)


def test_a_category_in_also_agrees_but_not_strictly() -> None:
    outcome = _outcome("config_error", "deployment_regression", 0.7, also=["deployment_regression"])
    assert outcome.correct
    assert not outcome.strict
    assert not outcome.confident_wrong
    assert Report([outcome]).through_also == 1


def test_rates_count_unknown_and_confident_wrong_answers() -> None:
    report = Report(
        [
            _outcome("memory_pressure", "memory_pressure", 0.9),
            _outcome("memory_pressure", "unknown", 0.2),
            _outcome("network", "availability", 0.6),  # wrong at exactly 0.6: confident
            _outcome("network", "availability", 0.59),  # wrong, below 0.6: not confident
        ]
    )
    assert report.accuracy == 0.25
    assert report.unknown_count == 1
    assert report.unknown_rate == 0.25
    assert report.confident_wrong_count == 1
    assert report.confident_wrong_rate == 0.25
    assert report.confusion() == [("network", "availability", 2), ("memory_pressure", "unknown", 1)]


def test_a_failure_counts_as_wrong_in_every_rate() -> None:
    report = Report([_outcome("network", "network", 0.8)])
    report.failures.append(Failure(_outcome("network", "network", 0.8).scenario, "ValueError: bad"))
    assert report.total == 2
    assert report.accuracy == 0.5
    assert any("raised" in line for line in wrong_entries(report))


def test_band_edges_belong_to_the_band_above() -> None:
    assert [band_of(c) for c in (0.0, 0.29, 0.3, 0.45, 0.59, 0.6, 0.75, 1.0)] == [0, 0, 1, 2, 2, 3, 4, 4]


def test_calibration_counts_and_accuracy_per_band() -> None:
    report = Report(
        [
            _outcome("disk_io", "disk_io", 0.8),
            _outcome("disk_io", "network", 0.8),
            _outcome("disk_io", "disk_io", 0.5),
            _outcome("disk_io", "unknown", 0.1),
        ]
    )
    bands = {band.label: (band.count, band.accuracy) for band in report.calibration()}
    assert bands == {
        "<0.3": (1, 0.0),
        "0.3-0.45": (0, None),
        "0.45-0.6": (1, 1.0),
        "0.6-0.75": (0, None),
        ">=0.75": (2, 0.5),
    }
    printed = "\n".join(summary("demo", report))
    assert "accuracy 50.0% (2/4)" in printed
    assert ">=0.75" in printed


def test_wrong_entries_name_the_label_the_answer_and_the_rule() -> None:
    lines = wrong_entries(Report([_outcome("disk_capacity", "memory_pressure", 0.8)]))
    assert "disk_capacity" in lines[1]
    assert "memory_pressure" in lines[1]
    assert "rules:x" in lines[1]
    assert "disk_capacity -> memory_pressure: 1" in lines[-1]


def test_shortfalls_name_each_floor_missed() -> None:
    floor = Floor(accuracy=0.9, max_confident_wrong=0.1)
    report = Report([_outcome("network", "network", 0.9), _outcome("network", "disk_io", 0.9)])
    found = shortfalls("demo", report, floor)
    assert len(found) == 2
    assert "accuracy 50.0%" in found[0]
    assert "confident-wrong 50.0% (1)" in found[1]
    assert shortfalls("demo", Report([_outcome("network", "network", 0.9)]), floor) == []


def test_every_set_has_a_floor() -> None:
    assert set(FLOORS) == {"scenarios", "prometheus-rules", "holmesgpt-incidents"}
