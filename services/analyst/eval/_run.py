"""Running the analysts over labelled scenarios: the same code for `just eval` and the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.analyst._rules import RulesAnalyst
from services.analyst.eval._paths import DEFAULT_LABELS_DIR
from services.analyst.eval._scenarios import Scenario
from services.analyst.eval._score import Failure, Outcome, Report

if TYPE_CHECKING:
    from services.analyst.eval._benchmarks import BenchmarkSet


def run_rules(scenarios: list[Scenario], rules_dir: str = "", analyst: RulesAnalyst | None = None) -> Report:
    """The rules analyst on every scenario; an exception is a failure of that entry, not of the run."""
    analyst = analyst or RulesAnalyst.from_dir(rules_dir)
    report = Report()
    for scenario in scenarios:
        started = time.perf_counter()
        try:
            analysis = analyst.analyze(scenario.message)
        # One bad entry must not hide the other figures: it is counted as a failure, and wrong.
        except Exception as exc:
            report.failures.append(Failure(scenario, f"{type(exc).__name__}: {exc}"))
            continue
        report.outcomes.append(Outcome(scenario, analysis, time.perf_counter() - started))
    return report


@dataclass(frozen=True)
class Measured:
    benchmark: BenchmarkSet
    report: Report


def measure_benchmarks(
    directory: Path, labels_dir: Path = DEFAULT_LABELS_DIR, rules_dir: str = ""
) -> Iterator[Measured]:
    """Each public set, loaded and scored on its labelled entries, in order: rules, then incidents."""
    # Imported here: the project's scenarios score without the enricher's code.
    from services.analyst.eval._benchmarks import load_incidents, load_rules

    analyst = RulesAnalyst.from_dir(rules_dir)
    for load in (load_rules, load_incidents):
        benchmark = load(directory, labels_dir)
        yield Measured(benchmark, run_rules(benchmark.scenarios, analyst=analyst))
