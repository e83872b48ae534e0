"""The figures each set must reach: `just eval` exits 1 below them, the tests assert them.

Adjust a floor here and both follow. Goals of issue 11 (rules analyst, no LLM).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.analyst.eval._score import Report


@dataclass(frozen=True)
class Floor:
    accuracy: float
    # Highest share of answers that are wrong with confidence >= 0.6; None: not checked.
    max_confident_wrong: float | None = None


SCENARIOS_FLOOR = Floor(accuracy=0.95)
PUBLIC_RULES_FLOOR = Floor(accuracy=0.90, max_confident_wrong=0.02)
INCIDENTS_FLOOR = Floor(accuracy=0.80)

FLOORS = {
    "scenarios": SCENARIOS_FLOOR,
    "prometheus-rules": PUBLIC_RULES_FLOOR,
    "holmesgpt-incidents": INCIDENTS_FLOOR,
}


@dataclass(frozen=True)
class PrivacyFloor:
    """Most planted values allowed through (counts), and the highest share of look-alikes masked."""

    secrets_enriched: int = 0
    secrets_llm: int = 0
    identifiers_llm_anonymised: int = 0
    lookalikes_masked: float = 0.01
    # On Loghub's real lines: share of anonymised values that their template holds as constant text.
    loghub_constant: float = 0.01


# Goals of issue 16, on the leak corpus (tests/privacy/corpus).
PRIVACY_FLOOR = PrivacyFloor()


def shortfalls(name: str, report: Report, floor: Floor | None = None) -> list[str]:
    """What in ``report`` is below the floor of set ``name``, as sentences; empty when all holds."""
    floor = floor or FLOORS[name]
    found = []
    if report.accuracy < floor.accuracy:
        found.append(f"{name}: accuracy {report.accuracy:.1%} is below the floor of {floor.accuracy:.0%}")
    limit = floor.max_confident_wrong
    if limit is not None and report.confident_wrong_rate > limit:
        found.append(
            f"{name}: confident-wrong {report.confident_wrong_rate:.1%} "
            f"({report.confident_wrong_count}) is above the limit of {limit:.0%}"
        )
    if report.failures:
        found.append(f"{name}: the analyst raised on {len(report.failures)} entries")
    return found
