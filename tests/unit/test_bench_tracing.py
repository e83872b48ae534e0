"""The interval bench.tracing prints around its median: it must hold the true median as often as it says."""

from __future__ import annotations

import random

import pytest

from bench.tracing import median_interval


@pytest.mark.parametrize("rounds", [6, 11, 20, 31])
def test_the_interval_holds_the_true_median_as_often_as_it_claims(rounds: int) -> None:
    # Ratios scattered the way rounds on a shared machine are: skewed, with a long tail of bad rounds.
    draw = random.Random(rounds)
    true_median = 0.94
    held, claimed = 0, 0.0
    trials = 4000
    for _ in range(trials):
        ratios = [true_median * draw.lognormvariate(0, 0.08) for _ in range(rounds)]
        low, high, coverage = median_interval(ratios)
        held += low <= true_median <= high
        claimed = coverage
    assert claimed >= 0.95
    assert held / trials >= claimed - 0.015  # sampling error of 4,000 trials


def test_too_few_rounds_for_the_confidence_give_the_whole_range_and_say_how_sure() -> None:
    low, high, coverage = median_interval([0.91, 0.84, 0.96, 0.88, 0.93])
    assert (low, high) == (0.84, 0.96)
    assert coverage == pytest.approx(1 - 2 / 32)


def test_more_rounds_narrow_the_interval() -> None:
    draw = random.Random(7)
    ratios = [draw.gauss(0.94, 0.06) for _ in range(41)]
    wide = median_interval(ratios[:11])
    narrow = median_interval(ratios)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
