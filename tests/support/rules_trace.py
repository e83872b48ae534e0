"""What the rules analyst says, as text: ``python -m tests.support.rules_trace``.

The first line says how the rules ran (services/compiled.py); the rest must not depend on it: every
answer, encoded as the analyst publishes it, for the scenarios, the benchmarks' floods and storms, and the
public alerting rules and incidents when ../shared/benchmarks is there.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import schemas
from bench.incident_work import flood
from bench.storms._scenario import load_storms
from services import compiled
from services.analyst import RulesAnalyst
from services.analyst.eval._benchmarks import load_incidents, load_rules
from services.analyst.eval._paths import DEFAULT_BENCHMARKS_DIR, benchmarks_present
from services.analyst.eval._scenarios import load_scenarios
from tests.support.webhooks import storm_webhook

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def messages() -> list[schemas.EnrichedAlert]:
    found = [scenario.message for scenario in load_scenarios()]
    found += flood(2_000, AT) + flood(2_000, AT, storm_webhook)
    found += [arrival.message for storm in load_storms() for arrival in storm.arrivals]
    if benchmarks_present(DEFAULT_BENCHMARKS_DIR):
        for loaded in (load_rules(DEFAULT_BENCHMARKS_DIR), load_incidents(DEFAULT_BENCHMARKS_DIR)):
            found += [scenario.message for scenario in loaded.scenarios]
    return found


def main() -> int:
    out = sys.stdout
    out.write(compiled.describe() + "\n")
    rules = RulesAnalyst()
    for message in messages():
        out.write(schemas.encode(rules.analyze(message)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
