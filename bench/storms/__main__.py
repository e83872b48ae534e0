"""``python -m bench.storms [--verbose] [--only TEXT]`` (also ``just eval --storms``): how well alerts group.

Every scenario of bench/storms/*.yaml (bench/storms/README.md) is replayed through the analyst's
correlation and incident lifecycle on a virtual clock (services/incidents/_simulate.py), with the
INCIDENT_* settings of the environment. Per storm and overall it prints pairwise precision, recall and
F1 of the grouping, incidents and notifications against the true causes, LLM calls, and the time from
the first alert reaching the pipeline to the first notification. Exits 1 when the overall precision or
recall is below the issue's goals (0.95 / 0.90): the mean over storms, each failure mode counting once.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import schemas
from bench._report import heading
from bench.storms._measure import PRECISION_GOAL, RECALL_GOAL, Measured, measure, overall
from bench.storms._public import during_storms, public_coincidences
from bench.storms._scenario import DIRECTORY, Storm, load_storms
from bench.storms._score import PairScore, wrong_pairs
from services.incidents._settings import IncidentSettings
from services.incidents._simulate import Arrival
from services.runtime import load

_WRONG_SHOWN = 8


def _line(m: Measured) -> str:
    firing = len(m.run.truth_of)
    s = m.score
    return (
        f"  {m.storm.path.stem[:40]:<40} {firing:>5} {m.storm.causes:>6} {m.incidents:>9} "
        f"{s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} {m.events:>6} {m.notifications:>5} "
        f"{m.run.count('resolved'):>5} "
        f"{m.run.llm_calls:>4} {m.first_seconds:>6.1f}  {' '.join(m.misses())}"
    )


def _wrong(m: Measured) -> list[str]:
    names: dict[str, str] = {}
    for arrival in m.storm.arrivals:
        names.setdefault(_episode(arrival), arrival.message.alert.labels.get("alertname", "?"))
    merged, split = wrong_pairs(m.run, names)
    lines = []
    for label, counter in (("merged (truly apart)", merged), ("split (truly together)", split)):
        for key, count in counter.most_common(_WRONG_SHOWN):
            lines.append(f"      {label}: {key} x{count}")
        if len(counter) > _WRONG_SHOWN:
            lines.append(
                f"      ... and {len(counter) - _WRONG_SHOWN} more kinds of {label.split()[0]} pairs"
            )
    return lines


def _episode(arrival: Arrival) -> str:
    return schemas.episode_key(arrival.message.alert)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show the wrong pairs of every storm")
    parser.add_argument("--only", default="", help="only the scenario files whose name contains this")
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="group by the scenarios' answers: the notifications and LLM calls of the lifecycle alone",
    )
    parser.add_argument("--storms", action="store_true", help=argparse.SUPPRESS)  # `just eval --storms`
    parser.add_argument("--dir", type=Path, default=DIRECTORY, help="where the scenario files are")
    args = parser.parse_args(argv)
    settings = load(IncidentSettings)
    storms = load_storms(args.dir, args.only)
    started = time.perf_counter()
    measured = measure(storms, settings, oracle=args.oracle)
    elapsed = time.perf_counter() - started
    alerts = sum(len(m.run.truth_of) for m in measured)
    heading(
        f"storms{' (oracle grouping)' if args.oracle else ''}: {len(storms)} scenarios, {alerts} alerts "
        f"(window {settings.incident_window_seconds:g}s, "
        f"grouping wait {settings.incident_group_wait_seconds:g}s, "
        f"updates every {settings.incident_update_seconds:g}s, {elapsed:.1f}s to run)"
    )
    print(
        f"  {'scenario':<40} {'alerts':>5} {'causes':>6} {'incidents':>9} {'prec':>6} {'recall':>6} "
        f"{'F1':>6} {'events':>6} {'shown':>5} {'resol':>5} {'llm':>4} {'first':>6}  misses"
    )
    for m in measured:
        print(_line(m))
        if args.verbose:
            print("\n".join(_wrong(m)))
    precision, recall, f1 = overall(measured)
    pooled = sum((m.score for m in measured), PairScore(0, 0, 0))
    heading("overall")
    print(f"  pairwise precision {precision:.3f} (goal >= {PRECISION_GOAL}), mean over storms")
    print(f"  pairwise recall    {recall:.3f} (goal >= {RECALL_GOAL}), mean over storms")
    print(f"  pairwise F1        {f1:.3f}")
    print(
        f"  pooled over all pairs: precision {pooled.precision:.3f}, recall {pooled.recall:.3f} "
        "(dominated by the two 500+ storms)"
    )
    causes = sum(m.storm.causes for m in measured)
    print(f"  incidents {sum(m.incidents for m in measured)} for {causes} true causes")
    print(
        f"  events (opened + updated) {sum(m.events for m in measured)}, of them shown to a person "
        f"{sum(m.notifications for m in measured)}, resolved {sum(m.run.count('resolved') for m in measured)}"
    )
    shown_total = sum(m.notifications for m in measured)
    print(
        f"  storms whose notifications shown <= true causes + 10%: "
        f"{sum('notifications' not in m.misses() for m in measured)} of {len(measured)}; "
        f"all storms together {shown_total} for {causes} causes ({shown_total / max(1, causes) - 1:+.0%})"
    )
    print(
        f"  LLM calls {sum(m.run.llm_calls for m in measured)}; storms within 1.5 x true incidents: "
        f"{sum('llm' not in m.misses() for m in measured)} of {len(measured)}"
    )
    firsts = [m.first_seconds for m in measured if not math.isnan(m.first_seconds)]
    print(f"  first notification after the first alert: max {max(firsts, default=math.nan):.1f}s")
    _public(settings, storms)
    below = [
        name
        for name, value, goal in (("precision", precision, PRECISION_GOAL), ("recall", recall, RECALL_GOAL))
        if value < goal
    ]
    if below:
        print(f"\nbelow the goal: {', '.join(below)}")
        return 1
    return 0


def _public(settings: IncidentSettings, storms: list[Storm]) -> None:
    found = public_coincidences(settings=settings)
    if found is None:
        print("\n(public incidents not found at ../shared/benchmarks: their coincidence check is skipped)")
        return
    heading(f"public incidents fired together: {found.entries} independent failures (HolmesGPT's fixtures)")
    print(
        f"  {found.incidents} incidents, {found.alone} failures alone; {found.pairs} pairs grouped, "
        "each a coincidence by construction:"
    )
    for joined in found.joined:
        print(f"    {joined.alertname} joined {joined.opener}'s incident by {', '.join(joined.signals)}")
    absorbed = during_storms(storms, settings) or []
    print(
        f"  fired during each of the {len(storms)} storms: {len(absorbed)} storm incidents took in "
        f"public alerts{':' if absorbed else ''}"
    )
    for found_in in absorbed:
        print(f"    {found_in.storm}: {', '.join(found_in.public)} with {', '.join(found_in.members[:4])}")


if __name__ == "__main__":
    sys.exit(main())
