"""How analyses are scored against labels: agreement, `unknown` rate, confident-wrong, calibration.

An answer agrees with its label when the category is the label's or the one alternative the
labeller found equally defensible (``also``); the strict figure counts the label alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import mean

import schemas
from services.analyst.eval._scenarios import Scenario

# A wrong answer at or above this confidence misleads whoever reads it: it is counted apart.
CONFIDENT = 0.6
# Lower edges of the calibration bands; each band runs up to the next edge.
BAND_EDGES = (0.0, 0.3, 0.45, 0.6, 0.75)


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    analysis: schemas.Analysis
    seconds: float = 0.0

    @property
    def strict(self) -> bool:
        return self.analysis.category == self.scenario.expected.category

    @property
    def correct(self) -> bool:
        return self.strict or self.analysis.category in self.scenario.expected.also

    @property
    def confident_wrong(self) -> bool:
        return not self.correct and self.analysis.confidence >= CONFIDENT

    @property
    def facts_found(self) -> list[str]:
        # The facts must be in what a reader reads first: the summary and the root cause.
        text = f"{self.analysis.summary}\n{self.analysis.root_cause}".lower()
        return [fact for fact in self.scenario.expected.facts if fact.lower() in text]

    @property
    def recall(self) -> float:
        facts = self.scenario.expected.facts
        return len(self.facts_found) / len(facts) if facts else 1.0


@dataclass(frozen=True)
class Failure:
    """An entry the analyst raised on: counted as wrong, listed with the error."""

    scenario: Scenario
    error: str


@dataclass(frozen=True)
class Band:
    low: float
    high: float | None
    count: int
    right: int

    @property
    def label(self) -> str:
        if self.high is None:
            return f">={self.low:g}"
        return f"<{self.high:g}" if self.low == 0 else f"{self.low:g}-{self.high:g}"

    @property
    def accuracy(self) -> float | None:
        return self.right / self.count if self.count else None


def band_of(confidence: float) -> int:
    """Index of the calibration band a confidence falls in."""
    return sum(confidence >= edge for edge in BAND_EDGES[1:])


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.outcomes) + len(self.failures)

    def _share(self, count: int) -> float:
        return count / self.total if self.total else 0.0

    @property
    def right(self) -> int:
        return sum(o.correct for o in self.outcomes)

    @property
    def accuracy(self) -> float:
        return self._share(self.right)

    @property
    def strict_accuracy(self) -> float:
        return self._share(sum(o.strict for o in self.outcomes))

    @property
    def through_also(self) -> int:
        """Answers that agree only through the label's ``also``: reported apart from clear agreement."""
        return sum(o.correct and not o.strict for o in self.outcomes)

    @property
    def unknown_count(self) -> int:
        return sum(o.analysis.category == "unknown" for o in self.outcomes)

    @property
    def unknown_rate(self) -> float:
        return self._share(self.unknown_count)

    @property
    def confident_wrong_count(self) -> int:
        return sum(o.confident_wrong for o in self.outcomes)

    @property
    def confident_wrong_rate(self) -> float:
        return self._share(self.confident_wrong_count)

    @property
    def wrong(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.correct]

    def calibration(self) -> list[Band]:
        """Accuracy and count per confidence band: a calibrated analyst is right more often higher up."""
        counts = [0] * len(BAND_EDGES)
        right = [0] * len(BAND_EDGES)
        for outcome in self.outcomes:
            index = band_of(outcome.analysis.confidence)
            counts[index] += 1
            right[index] += outcome.correct
        highs: list[float | None] = [*BAND_EDGES[1:], None]
        return [
            Band(low, high, n, r) for low, high, n, r in zip(BAND_EDGES, highs, counts, right, strict=True)
        ]

    def confusion(self) -> list[tuple[str, str, int]]:
        """(label, got, count) over the wrong answers, most frequent first."""
        pairs = Counter((o.scenario.expected.category, str(o.analysis.category)) for o in self.wrong)
        return [(label, got, n) for (label, got), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]

    @property
    def fact_recall(self) -> float:
        return mean(o.recall for o in self.outcomes) if self.outcomes else 0.0

    @property
    def brier(self) -> float:
        """Mean squared gap between confidence and being right: lower is better calibrated."""
        if not self.outcomes:
            return 0.0
        return mean((o.analysis.confidence - float(o.correct)) ** 2 for o in self.outcomes)

    def confidence_when(self, correct: bool) -> float:
        chosen = [o.analysis.confidence for o in self.outcomes if o.correct is correct]
        return mean(chosen) if chosen else 0.0
