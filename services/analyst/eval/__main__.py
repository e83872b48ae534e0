"""``python -m services.analyst.eval [--benchmarks] [--verbose] [--llm] [--privacy] [--feedback]``.

The rules analyst always runs on the project's scenarios (tests/scenarios). ``--benchmarks`` also
scores it on the public inputs in ../shared/benchmarks (500 alerting rules, 33 peer incidents)
against the project's labels (tests/benchmarks/labels). ``--llm`` also runs the LLM analyst on the
scenarios when LLM_API_KEY is set. ``--privacy`` measures what of the leak corpus (tests/privacy/corpus)
reaches alerts.enriched and the LLM prompt, and that redaction leaves the scenarios' answers as they were.
``--feedback DIR`` reports people's verdicts that ``aiops feedback export`` wrote (docs/feedback.md).
Exits 1 when a set is below its floor (eval/_floors.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from services.analyst.eval._floors import SCENARIOS_FLOOR, shortfalls
from services.analyst.eval._paths import (
    DEFAULT_BENCHMARKS_DIR,
    DEFAULT_LABELS_DIR,
    PRIVACY_CORPUS,
    benchmarks_present,
)
from services.analyst.eval._report import scenario_table, summary, wrong_entries
from services.analyst.eval._run import measure_benchmarks, run_rules
from services.analyst.eval._scenarios import DEFAULT_DIR, Scenario, load_scenarios
from services.analyst.eval._score import Outcome, Report

# Kept for the tests that import it: the project scenarios' floor.
RULES_FLOOR = SCENARIOS_FLOOR.accuracy
_PROBLEMS_SHOWN = 10

__all__ = ["RULES_FLOOR", "main", "run_llm", "run_rules"]


async def run_llm(scenarios: list[Scenario]) -> Report:
    from services.analyst._llm_setup import llm_analyst_from_env

    llm = llm_analyst_from_env()
    report = Report()
    try:
        for scenario in scenarios:
            started = time.perf_counter()
            analysis = await llm.analyze(scenario.message)
            report.outcomes.append(Outcome(scenario, analysis, time.perf_counter() - started))
    finally:
        await llm.close()
    return report


def _print(lines: list[str]) -> None:
    print("\n".join(lines))


def _benchmarks(args: argparse.Namespace) -> list[str]:
    """Score the public sets; return what was below a floor."""
    directory: Path = args.benchmarks_dir
    if not benchmarks_present(directory):
        print(
            f"\n== public benchmarks: skipped ==\nno inputs at {directory.resolve()} "
            "(expected prometheus-rules.json and holmesgpt-incidents.json; see docs/evaluation.md, "
            "or pass --benchmarks-dir)"
        )
        return []
    below: list[str] = []
    print(f"\npublic inputs: {directory.resolve()}; labels: {args.labels_dir.resolve()}")
    for measured in measure_benchmarks(directory, args.labels_dir, args.rules_dir):
        benchmark, report = measured.benchmark, measured.report
        print(f"\n== {benchmark.name} ==")
        print(f"labelled {benchmark.labelled} of {benchmark.entries} entries; scoring the labelled ones")
        if benchmark.skipped_parts:
            print(f"{benchmark.skipped_parts} series or log streams could not be mapped and were left out")
        for problem in benchmark.problems[:_PROBLEMS_SHOWN]:
            print(f"  problem: {problem}")
        if len(benchmark.problems) > _PROBLEMS_SHOWN:
            print(f"  and {len(benchmark.problems) - _PROBLEMS_SHOWN} more problems")
        if not benchmark.labelled:
            print("nothing labelled yet: no figures")
            continue
        _print(summary(benchmark.name, report))
        if args.verbose:
            _print(wrong_entries(report))
        below += shortfalls(benchmark.name, report)
    return below


def _privacy(scenarios: list[Scenario], args: argparse.Namespace) -> list[str]:
    """Print the leak figures and the scenarios' agreement with redaction on; return what missed a floor."""
    from services.analyst.eval._privacy import default_redact, load_corpus, measure_privacy
    from services.analyst.eval._privacy_report import (
        agreement_lines,
        agreement_shortfalls,
        privacy_shortfalls,
        privacy_table,
        redaction_agreement,
    )

    redact, present = default_redact()
    report = measure_privacy(load_corpus(args.privacy_corpus), redact, present)
    print("\n== privacy (leak corpus) ==")
    _print(privacy_table(report))
    if args.verbose and report.examples:
        _print(["what got through or was masked wrongly:", *(f"  {e}" for e in report.examples)])
    below = privacy_shortfalls(report)
    if present:
        from services.privacy import redact_message

        agreement = redaction_agreement(scenarios, redact_message, args.rules_dir)
        _print(agreement_lines(agreement))
        below += agreement_shortfalls(agreement)
    else:
        below.append("privacy: services.privacy is absent, nothing is redacted")
    return below + _privacy_loghub(args.benchmarks_dir / "loghub")


def _privacy_loghub(directory: Path) -> list[str]:
    from services.analyst.eval._floors import PRIVACY_FLOOR
    from services.analyst.eval._privacy_loghub import loghub_lines, loghub_present, measure_loghub

    if not loghub_present(directory):
        print(f"Loghub: skipped, no *_2k.log_structured.csv at {directory.resolve()}")
        return []
    figure = measure_loghub(directory)
    _print(loghub_lines(figure))
    limit = PRIVACY_FLOOR.loghub_constant
    if figure.constant_share > limit:
        return [f"privacy: Loghub constant text anonymised {figure.constant_share:.1%}, above {limit:.0%}"]
    return []


def _feedback(directory: Path, rules_dir: str) -> None:
    """People's verdicts: precision and calibration then, and today's rules on the cases they labelled."""
    from services.analyst.eval._feedback import feedback_lines

    print(f"\n== feedback ({directory}) ==")
    _print(feedback_lines(directory))
    labelled = load_scenarios(directory) if directory.is_dir() else []
    if labelled:
        _print(summary("rules analyst today, on the verdicts' cases", run_rules(labelled, rules_dir)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analyst.eval", description=__doc__)
    parser.add_argument("--llm", action="store_true", help="also run the LLM analyst (needs LLM_API_KEY)")
    parser.add_argument(
        "--scenarios", type=Path, default=DEFAULT_DIR, help="directory of scenario YAML files"
    )
    parser.add_argument("--rules-dir", default="", help="extra rule files, as RULES_DIR")
    parser.add_argument("--benchmarks", action="store_true", help="also score the public benchmark inputs")
    parser.add_argument(
        "--benchmarks-dir", type=Path, default=DEFAULT_BENCHMARKS_DIR, help="where the public inputs are"
    )
    parser.add_argument(
        "--labels-dir", type=Path, default=DEFAULT_LABELS_DIR, help="the labels of the inputs"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="list every wrong answer and a confusion summary"
    )
    parser.add_argument(
        "--privacy", action="store_true", help="also measure leaks of the corpus in tests/privacy/corpus"
    )
    parser.add_argument(
        "--privacy-corpus", type=Path, default=PRIVACY_CORPUS, help="the leak corpus (JSON lines)"
    )
    parser.add_argument(
        "--feedback",
        type=Path,
        nargs="?",
        const=Path(".data/feedback"),
        help="also report people's verdicts exported by `aiops feedback export` (default .data/feedback)",
    )
    args = parser.parse_args(argv)
    scenarios = load_scenarios(args.scenarios)
    if not scenarios:
        print(f"no scenarios in {args.scenarios}", file=sys.stderr)
        return 2
    rules = run_rules(scenarios, args.rules_dir)
    print("\n== scenarios (rules analyst) ==")
    if not args.benchmarks:
        _print(scenario_table(rules, usage=False))
    _print(summary("scenarios", rules))
    if args.verbose:
        _print(wrong_entries(rules))
    below = shortfalls("scenarios", rules)
    if args.benchmarks:
        below += _benchmarks(args)
    if args.privacy:
        below += _privacy(scenarios, args)
    if args.feedback is not None:
        _feedback(args.feedback, args.rules_dir)
    if args.llm:
        from services.analyst._llm_setup import llm_configured

        if not llm_configured():
            print("\nLLM: skipped, LLM_API_KEY (or DEEPSEEK_API_KEY) is not set")
        else:
            print("\n== scenarios (LLM analyst) ==")
            llm = asyncio.run(run_llm(scenarios))
            _print(scenario_table(llm, usage=True))
            _print(summary("llm", llm))
    if below:
        # On stdout, after the figures they refer to (stderr would overtake a piped stdout).
        print("\nbelow the floors (services/analyst/eval/_floors.py):")
        for line in below:
            print(f"  {line}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
