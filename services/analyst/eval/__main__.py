"""``python -m services.analyst.eval [--llm]``: category accuracy and fact recall per analyst.

The rules analyst always runs; ``--llm`` also runs the LLM analyst when LLM_API_KEY is set and
prints its tokens and latency per scenario. Exits 1 when the rules analyst is below the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from services.analyst._rules import RulesAnalyst
from services.analyst.eval._scenarios import DEFAULT_DIR, Scenario, load_scenarios
from services.analyst.eval._score import Outcome, Report

RULES_FLOOR = 0.85


def run_rules(scenarios: list[Scenario], rules_dir: str = "") -> Report:
    analyst = RulesAnalyst.from_dir(rules_dir)
    report = Report()
    for scenario in scenarios:
        started = time.perf_counter()
        analysis = analyst.analyze(scenario.message)
        report.outcomes.append(Outcome(scenario, analysis, time.perf_counter() - started))
    return report


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


def print_report(title: str, report: Report, *, usage: bool) -> None:
    print(f"\n== {title} ==")
    header = f"{'scenario':<44} {'expected':<22} {'got':<22} {'ok':<3} {'conf':>5} {'facts':>6}"
    if usage:
        header += f" {'prompt':>7} {'compl':>6} {'secs':>6}"
    print(header)
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
        print(line)
    print(
        f"{title}: category accuracy {report.accuracy:.1%} ({sum(o.correct for o in report.outcomes)}"
        f"/{len(report.outcomes)}), fact recall {report.fact_recall:.1%}, "
        f"mean confidence right {report.confidence_when(True):.2f}"
        f" / wrong {report.confidence_when(False):.2f}, "
        f"Brier {report.brier:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analyst.eval", description=__doc__)
    parser.add_argument("--llm", action="store_true", help="also run the LLM analyst (needs LLM_API_KEY)")
    parser.add_argument(
        "--scenarios", type=Path, default=DEFAULT_DIR, help="directory of scenario YAML files"
    )
    parser.add_argument("--rules-dir", default="", help="extra rule files, as RULES_DIR")
    args = parser.parse_args(argv)
    scenarios = load_scenarios(args.scenarios)
    if not scenarios:
        print(f"no scenarios in {args.scenarios}", file=sys.stderr)
        return 2
    rules = run_rules(scenarios, args.rules_dir)
    print_report("rules", rules, usage=False)
    if args.llm:
        from services.analyst._llm_setup import llm_configured

        if not llm_configured():
            print("\nLLM: skipped, LLM_API_KEY (or DEEPSEEK_API_KEY) is not set")
        else:
            print_report("llm", asyncio.run(run_llm(scenarios)), usage=True)
    if rules.accuracy < RULES_FLOOR:
        print(
            f"\nrules accuracy {rules.accuracy:.1%} is below the floor of {RULES_FLOOR:.0%}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
