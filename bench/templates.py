"""Log templates against the standard benchmark and the standard parser: ``python -m bench.templates``.

On Loghub's 16 labelled 2,000-line samples, the enricher's templater (``cluster``, as it runs per alert) and
Drain3 (the ``drain3`` package, default configuration: no masking, similarity 0.4, depth 4) group the same
lines in the same run. Printed per system and on average: grouping accuracy and lines/s for both, and the
speed ratio. Exits 1 when our mean accuracy is below 0.90, any system below 0.5, or our speed below Drain3's.

Timing repeats ``BENCH_ROUNDS`` rounds (default 5), alternating which parser goes first; the floor applies to
the median round, so a busy shared machine does not make it flap.

Loghub: https://github.com/logpai/loghub — Jieming Zhu, Shilin He, Pinjia He, Jinyang Liu, Michael R. Lyu.
Loghub: A Large Collection of System Log Datasets for AI-driven Log Analytics. In ISSRE, 2023. The samples are
read at run time from ``../shared/benchmarks/loghub`` (LICENSE beside them), never copied into the project.
"""

from __future__ import annotations

import csv
import logging
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.enricher import cluster
from services.enricher._templates import cluster_labels

LOGHUB = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "loghub"
MEAN_FLOOR = 0.90
SYSTEM_FLOOR = 0.5
SPEED_FLOOR = 1.0


@dataclass(frozen=True)
class Sample:
    system: str
    lines: list[str]
    events: list[str]


def loghub_samples(folder: Path = LOGHUB) -> list[Sample]:
    """Every ``<system>_2k.log_structured.csv``: each line's Content and its labelled EventId."""
    samples = []
    for path in sorted(folder.glob("*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8") as rows:
            table = list(csv.DictReader(rows))
        samples.append(
            Sample(path.name.split("_")[0], [r["Content"] for r in table], [r["EventId"] for r in table])
        )
    return samples


def grouping_accuracy(labels: Sequence[Hashable], events: Sequence[str]) -> float:
    """Share of lines whose group holds exactly the lines sharing their labelled event."""
    by_label: dict[Hashable, set[int]] = defaultdict(set)
    by_event: dict[str, set[int]] = defaultdict(set)
    for index, (label, event) in enumerate(zip(labels, events, strict=True)):
        by_label[label].add(index)
        by_event[event].add(index)
    right = sum(1 for label, event in zip(labels, events, strict=True) if by_label[label] == by_event[event])
    return right / len(events)


def drain3_labels(lines: Sequence[str]) -> list[int]:
    miner = _drain3()
    return [miner.add_log_message(line)["cluster_id"] for line in lines]


def _drain3() -> Any:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    logging.getLogger("drain3").setLevel(logging.WARNING)
    return TemplateMiner(config=TemplateMinerConfig())


def _ours(lines: list[str]) -> Callable[[], object]:
    entries = [(float(index), line) for index, line in enumerate(lines)]
    return lambda: cluster(entries)


def _theirs(lines: list[str]) -> Callable[[], object]:
    def run() -> None:
        miner = _drain3()
        for line in lines:
            miner.add_log_message(line)

    return run


def _seconds(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def timings(
    samples: list[Sample], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float]]:
    """Seconds per system per round for us and for Drain3, and each round's speed ratio (theirs / ours)."""
    ours: dict[str, list[float]] = defaultdict(list)
    theirs: dict[str, list[float]] = defaultdict(list)
    ratios = []
    for round_ in range(rounds):
        ours_total = theirs_total = 0.0
        for sample in samples:
            pair = [(ours, _ours(sample.lines)), (theirs, _theirs(sample.lines))]
            for into, run in pair if round_ % 2 == 0 else reversed(pair):
                spent = _seconds(run)
                into[sample.system].append(spent)
                if into is ours:
                    ours_total += spent
                else:
                    theirs_total += spent
        ratios.append(theirs_total / ours_total)
    return ours, theirs, ratios


def main() -> None:
    if not LOGHUB.is_dir():
        print(
            f"log templates: skipped, Loghub samples not found at {LOGHUB.resolve()} (../shared/benchmarks)"
        )
        return
    samples = loghub_samples()
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    ours, theirs, ratios = timings(samples, rounds)
    print(
        f"log templates on Loghub-2k ({len(samples)} systems; https://github.com/logpai/loghub, Zhu et al., "
        f"ISSRE 2023), against Drain3 (default config) in the same run; lines/s: median of {rounds} rounds"
    )
    print(f"{'system':<12} {'accuracy':>8} {'Drain3':>7} {'lines/s':>9} {'Drain3':>9} {'speed':>6}")
    accuracies, drain_accuracies = [], []
    for sample in samples:
        mine = grouping_accuracy(cluster_labels(sample.lines), sample.events)
        drain = grouping_accuracy(drain3_labels(sample.lines), sample.events)
        accuracies.append(mine)
        drain_accuracies.append(drain)
        ours_rate = len(sample.lines) / statistics.median(ours[sample.system])
        theirs_rate = len(sample.lines) / statistics.median(theirs[sample.system])
        print(
            f"{sample.system:<12} {mine:8.3f} {drain:7.3f} {ours_rate:9,.0f} {theirs_rate:9,.0f} "
            f"{ours_rate / theirs_rate:5.2f}x"
        )
    lines = sum(len(sample.lines) for sample in samples)
    ours_rate = lines / statistics.median(sum(times) for times in zip(*ours.values(), strict=True))
    theirs_rate = lines / statistics.median(sum(times) for times in zip(*theirs.values(), strict=True))
    mean, drain_mean, ratio = (
        statistics.fmean(accuracies),
        statistics.fmean(drain_accuracies),
        statistics.median(ratios),
    )
    print(f"{'mean':<12} {mean:8.3f} {drain_mean:7.3f} {ours_rate:9,.0f} {theirs_rate:9,.0f} {ratio:5.2f}x")
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"speed ratio (Drain3's time / ours) per round: {each}: median {ratio:.2f} (floor {SPEED_FLOOR})")
    failures = []
    if mean < MEAN_FLOOR:
        failures.append(f"mean grouping accuracy {mean:.3f} < {MEAN_FLOOR}")
    failures += [
        f"{s.system} grouping accuracy {a:.3f} < {SYSTEM_FLOOR}"
        for s, a in zip(samples, accuracies, strict=True)
        if a < SYSTEM_FLOOR
    ]
    if ratio < SPEED_FLOOR:
        failures.append(f"templating speed {ratio:.2f}x Drain3 < {SPEED_FLOOR}x")
    if failures:
        print("FAIL: " + "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
