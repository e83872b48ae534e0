"""How long a due incident review gives way to queued alerts: never so long a stopping analyst cannot
finish what it holds within its shutdown grace."""

from __future__ import annotations

import pytest

from services.analyst._reviews import defer_seconds, hold_seconds
from services.incidents import IncidentSettings

DEFAULTS = IncidentSettings(incidents_enabled=True)


@pytest.mark.parametrize(("grace", "deferred"), [(20.0, 4.0), (16.0, 2.0), (12.0, 0.0)])
def test_the_deferral_is_cut_to_what_half_the_shutdown_grace_leaves_after_the_hold(
    grace: float, deferred: float
) -> None:
    assert defer_seconds(DEFAULTS, grace) == deferred
    assert hold_seconds(DEFAULTS, grace) + defer_seconds(DEFAULTS, grace) <= grace / 2


def test_a_deferral_of_zero_turns_it_off_and_a_shorter_one_is_kept() -> None:
    assert defer_seconds(IncidentSettings(incident_review_defer_seconds=0.0), 20.0) == 0.0
    assert defer_seconds(IncidentSettings(incident_review_defer_seconds=1.5), 20.0) == 1.5
