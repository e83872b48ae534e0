"""The interval bench.tracing prints around its median: the order statistics the binomial count gives,
holding the true median as often as it says."""

from __future__ import annotations

import math
import random

import pytest

from bench.tracing import median_interval


def _below(n: int, k: int) -> float:
    """P(fewer than k of n values fall under the true median)."""
    return sum(math.comb(n, i) for i in range(k)) / (1 << n)


@pytest.mark.parametrize(
    ("rounds", "low", "high"),
    [(6, 1, 6), (11, 2, 10), (20, 6, 15), (64, 24, 41)],  # 1-based order statistics
)
def test_the_interval_is_the_narrowest_pair_of_order_statistics_sure_enough(
    rounds: int, low: int, high: int
) -> None:
    values = [float(n) for n in random.Random(rounds).sample(range(1000), rounds)]
    ordered = sorted(values)
    assert median_interval(values) == (ordered[low - 1], ordered[high - 1], 1 - 2 * _below(rounds, low))
    assert 1 - 2 * _below(rounds, low) >= 0.95 > 1 - 2 * _below(rounds, low + 1)


def test_too_few_rounds_for_the_confidence_give_the_whole_range_and_say_how_sure() -> None:
    low, high, coverage = median_interval([0.91, 0.84, 0.96, 0.88, 0.93])
    assert (low, high) == (0.84, 0.96)
    assert coverage == pytest.approx(1 - 2 / 32)


@pytest.mark.parametrize("rounds", [11, 31])
def test_the_interval_holds_the_true_median_as_often_as_it_claims(rounds: int) -> None:
    # Rounds scattered as on a shared machine: most near the figure, one in ten far below it (a
    # neighbour's burst), so the draws are skewed with a heavy lower tail.
    draw = random.Random(rounds)
    spread = [0.05] * 9 + [0.4]
    true_median = _true_median(draw, spread)
    held, trials = 0, 4000
    for _ in range(trials):
        ratios = [math.exp(-abs(draw.gauss(0, draw.choice(spread)))) for _ in range(rounds)]
        low, high, coverage = median_interval(ratios)
        held += low <= true_median <= high
    assert held / trials >= coverage - 0.015  # 0.015: the sampling error of 4,000 trials


def _true_median(draw: random.Random, spread: list[float]) -> float:
    many = sorted(math.exp(-abs(draw.gauss(0, draw.choice(spread)))) for _ in range(200_001))
    return many[100_000]
