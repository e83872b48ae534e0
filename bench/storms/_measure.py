"""A storm replayed and scored: the figures of one storm, and their means over storms."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.storms._oracle import TruthGrouping
from bench.storms._scenario import Storm
from bench.storms._score import PairScore, pair_score
from bench.storms._shown import shown
from services.incidents._settings import IncidentSettings
from services.incidents._simulate import Run, simulate

PRECISION_GOAL = 0.95
RECALL_GOAL = 0.90
NOTIFICATIONS_SLACK = 1.10  # notifications (opening + updates) <= true causes + 10%
LLM_CALLS_SLACK = 1.5  # LLM calls <= 1.5 x true incidents
FIRST_NOTIFICATION_GOAL = 10.0  # seconds, with a 5 s grouping wait


@dataclass(frozen=True)
class Measured:
    storm: Storm
    run: Run
    score: PairScore

    @property
    def incidents(self) -> int:
        return len(set(self.run.incident_of.values()))

    @property
    def events(self) -> int:
        return self.run.count("opened", "updated")

    @property
    def notifications(self) -> int:
        """Openings and updates a person receives (bench/storms/_shown.py)."""
        return shown(self.run)

    @property
    def first_seconds(self) -> float:
        first = self.run.first_notification
        return first.total_seconds() if first is not None else math.nan

    def misses(self) -> list[str]:
        """The issue's per-storm goals this storm misses."""
        causes = self.storm.causes
        out = []
        if self.notifications > math.floor(causes * NOTIFICATIONS_SLACK + 1e-9):
            out.append("notifications")
        if self.run.llm_calls > causes * LLM_CALLS_SLACK:
            out.append("llm")
        if not self.first_seconds <= FIRST_NOTIFICATION_GOAL:
            out.append("first")
        return out


def measure(storms: list[Storm], settings: IncidentSettings, *, oracle: bool = False) -> list[Measured]:
    measured = []
    for storm in storms:
        assigner = TruthGrouping(storm.arrivals) if oracle else None
        run = simulate(storm.arrivals, settings, storm.topology, assigner=assigner)
        measured.append(Measured(storm, run, pair_score(run)))
    return measured


def overall(measured: list[Measured]) -> tuple[float, float, float]:
    """Mean precision, recall and F1 over storms."""
    count = max(1, len(measured))
    return (
        sum(m.score.precision for m in measured) / count,
        sum(m.score.recall for m in measured) / count,
        sum(m.score.f1 for m in measured) / count,
    )
