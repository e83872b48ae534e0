"""How an analysis is scored against a scenario: category right, facts mentioned."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean

import schemas
from services.analyst.eval._scenarios import Scenario


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    analysis: schemas.Analysis
    seconds: float = 0.0

    @property
    def correct(self) -> bool:
        return self.analysis.category == self.scenario.expected.category

    @property
    def facts_found(self) -> list[str]:
        # The facts must be in what a reader reads first: the summary and the root cause.
        text = f"{self.analysis.summary}\n{self.analysis.root_cause}".lower()
        return [fact for fact in self.scenario.expected.facts if fact.lower() in text]

    @property
    def recall(self) -> float:
        facts = self.scenario.expected.facts
        return len(self.facts_found) / len(facts) if facts else 1.0


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return mean(o.correct for o in self.outcomes) if self.outcomes else 0.0

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
