"""Pairwise scores of a grouping against the truth, and the pairs it got wrong.

A pair is two alerts (episodes) of one storm. Predicted together = the same incident id; truly together
= the same ``incident`` label in the scenario. Precision: of the pairs put together, the share truly
together; recall: of the pairs truly together, the share put together. Computed from counts, so a storm
of 600 alerts (180,000 pairs) costs what its alerts cost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import combinations

from services.incidents._simulate import Run


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class PairScore:
    together: int  # pairs in one predicted incident and one true incident
    predicted: int  # pairs in one predicted incident
    true: int  # pairs in one true incident

    @property
    def precision(self) -> float:
        return self.together / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.together / self.true if self.true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PairScore) -> PairScore:
        return PairScore(
            self.together + other.together, self.predicted + other.predicted, self.true + other.true
        )


def pair_score(run: Run) -> PairScore:
    # An episode the run never placed is an incident of its own.
    predicted = {episode: run.incident_of.get(episode, f"unplaced:{episode}") for episode in run.truth_of}
    cells = Counter((predicted[e], truth) for e, truth in run.truth_of.items())
    return PairScore(
        together=sum(_pairs(n) for n in cells.values()),
        predicted=sum(_pairs(n) for n in Counter(predicted.values()).values()),
        true=sum(_pairs(n) for n in Counter(run.truth_of.values()).values()),
    )


def wrong_pairs(run: Run, names: dict[str, str]) -> tuple[Counter[str], Counter[str]]:
    """(merged, split): wrong pairs counted by "alertname[truth]" of both sides.

    ``merged``: put together but truly apart (what costs precision); ``split``: truly together but
    put apart (what costs recall). ``names`` maps an episode to its alert name.
    """
    merged: Counter[str] = Counter()
    split: Counter[str] = Counter()
    tag = {e: f"{names.get(e, '?')}[{truth}]" for e, truth in run.truth_of.items()}
    # Distinct (incident, truth, tag) cells with their sizes keep this linear in the kinds of alert.
    cells = Counter((run.incident_of.get(e, e), truth, tag[e]) for e, truth in run.truth_of.items())
    for (inc_a, truth_a, tag_a), (inc_b, truth_b, tag_b) in combinations(sorted(cells), 2):
        count = cells[(inc_a, truth_a, tag_a)] * cells[(inc_b, truth_b, tag_b)]
        key = " + ".join(sorted((tag_a, tag_b)))
        if inc_a == inc_b and truth_a != truth_b:
            merged[key] += count
        elif inc_a != inc_b and truth_a == truth_b:
            split[key] += count
    return merged, split
