"""The storm benchmark against the issue's goals: grouping precision >= 0.95 and recall >= 0.90, and
the posts a person receives from a destination that cannot edit, all storms together, within the true
causes + 10%.

Every scenario of bench/storms/ through the analyst's correlation and lifecycle (a virtual clock, so
it takes seconds). It fails while grouping is below the goals, and says which storms fall short.
"""

from __future__ import annotations

import math

import pytest

from bench.storms._measure import NOTIFICATIONS_SLACK, PRECISION_GOAL, RECALL_GOAL, measure, overall
from bench.storms._public import during_storms, public_coincidences
from bench.storms._scenario import load_storms
from services.analyst.eval._paths import DEFAULT_BENCHMARKS_DIR
from services.incidents import IncidentSettings


def test_grouping_reaches_the_issues_goals_on_every_storm_scenario() -> None:
    measured = measure(load_storms(), IncidentSettings(incidents_enabled=True))
    precision, recall, _ = overall(measured)
    weakest = sorted(measured, key=lambda m: m.score.f1)[:5]
    detail = ", ".join(
        f"{m.storm.path.stem} (P {m.score.precision:.2f} R {m.score.recall:.2f})" for m in weakest
    )
    assert precision >= PRECISION_GOAL, f"precision {precision:.3f}; weakest: {detail}"
    assert recall >= RECALL_GOAL, f"recall {recall:.3f}; weakest: {detail}"
    shown = sum(m.notifications for m in measured)
    causes = sum(m.storm.causes for m in measured)
    assert shown <= math.floor(causes * NOTIFICATIONS_SLACK), f"{shown} posts for {causes} causes"


def test_independent_public_incidents_fired_together_mostly_stay_apart() -> None:
    # HolmesGPT's fixtures are separate failures nobody here wrote: fired together, whatever the
    # correlator groups is a coincidence (some, such as resolver failures at once, one cluster would
    # make one incident). Kubernetes' own event lines once tied six crash loops into one.
    found = public_coincidences()
    if found is None:
        pytest.skip(
            f"the public benchmark inputs are not at {DEFAULT_BENCHMARKS_DIR} (see docs/evaluation.md)"
        )
    assert found.incidents >= 0.9 * found.entries, [
        f"{j.alertname} joined {j.opener} by {j.signals}" for j in found.joined
    ]


def test_public_incidents_fired_during_the_storms_stay_out_of_them_but_for_shared_classes() -> None:
    # The same fixtures fired during each storm, in its cluster. What a storm's incident still takes
    # in (5) is a class one cluster shares by design (a resolver, an expired certificate, a network
    # share, exhausted connections or a technology nobody placed); a service name in another namespace,
    # another namespace's full claim and certificates that will expire soon took in seven more.
    absorbed = during_storms(load_storms(), IncidentSettings(incidents_enabled=True))
    if absorbed is None:
        pytest.skip(
            f"the public benchmark inputs are not at {DEFAULT_BENCHMARKS_DIR} (see docs/evaluation.md)"
        )
    assert len(absorbed) <= 6, [f"{a.storm}: {a.public} with {a.members}" for a in absorbed]
