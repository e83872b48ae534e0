"""The printed figures of one set: summary line, calibration table, and (verbose) what to fix."""

from __future__ import annotations

from pathlib import Path

from services.analyst.eval._scenarios import Scenario
from services.analyst.eval._score import CONFIDENT, Report


def summary(title: str, report: Report) -> list[str]:
    right = report.right
    lines = [
        f"{title}: accuracy {report.accuracy:.1%} ({right}/{report.total}), "
        f"strict {report.strict_accuracy:.1%} ({report.through_also} through `also`)",
        f"  unknown {report.unknown_rate:.1%} ({report.unknown_count}), "
        f"confident-wrong (>= {CONFIDENT:g}) {report.confident_wrong_rate:.1%} "
        f"({report.confident_wrong_count})",
        f"  {'confidence':<11} {'answers':>7} {'right':>6} {'accuracy':>9}",
    ]
    for band in report.calibration():
        accuracy = f"{band.accuracy:.0%}" if band.accuracy is not None else "-"
        lines.append(f"  {band.label:<11} {band.count:>7} {band.right:>6} {accuracy:>9}")
    return lines


def _entry(scenario: Scenario) -> str:
    return str(scenario.index) if scenario.index is not None else Path(scenario.path).stem


def wrong_entries(report: Report) -> list[str]:
    """Each wrong answer with what it should have been, and which rule or model gave it."""
    if not report.wrong and not report.failures:
        return []
    rows = [("entry", "alert", "label", "got", "conf", "by")]
    for outcome in report.wrong:
        scenario, analysis = outcome.scenario, outcome.analysis
        label = "|".join([scenario.expected.category, *scenario.expected.also])
        rows.append(
            (
                _entry(scenario),
                scenario.message.alert.labels.get("alertname", scenario.name),
                label,
                analysis.category,
                f"{analysis.confidence:.2f}",
                analysis.model or analysis.analyzer,
            )
        )
    for failure in report.failures:
        alertname = failure.scenario.message.alert.labels.get("alertname", failure.scenario.name)
        rows.append(
            (
                _entry(failure.scenario),
                alertname,
                failure.scenario.expected.category,
                "raised",
                "",
                failure.error,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[5]
        for row in rows
    ]
    confusion = report.confusion()
    if confusion:
        lines.append("  wrong answers by label -> got:")
        lines.extend(f"    {label} -> {got}: {count}" for label, got, count in confusion)
    return lines


def scenario_table(report: Report, *, usage: bool) -> list[str]:
    """Every project scenario on its own line (the classic `just eval` output)."""
    header = f"{'scenario':<44} {'expected':<22} {'got':<22} {'ok':<3} {'conf':>5} {'facts':>6}"
    if usage:
        header += f" {'prompt':>7} {'compl':>6} {'secs':>6}"
    lines = [header]
    for o in report.outcomes:
        name = Path(o.scenario.path).stem[:44]
        line = (
            f"{name:<44} {o.scenario.expected.category:<22} {o.analysis.category:<22} "
            f"{'yes' if o.correct else 'NO':<3} {o.analysis.confidence:>5.2f} {o.recall:>6.0%}"
        )
        if usage:
            degraded = " degraded" if o.analysis.degraded else ""
            tokens = f"{o.analysis.prompt_tokens:>7} {o.analysis.completion_tokens:>6}"
            line += f" {tokens} {o.seconds:>6.1f}{degraded}"
        lines.append(line)
    lines.append(
        f"fact recall {report.fact_recall:.1%}, mean confidence right {report.confidence_when(True):.2f}"
        f" / wrong {report.confidence_when(False):.2f}, Brier {report.brier:.3f}"
    )
    return lines
