"""bench.incident_work, the analyst's incident work in one process. `just bench` prints its figures; they
only mean something while it does the work the analyst does: every alert placed with its stream
sequence, every incident reviewed from its root as placed, and announced once."""

from __future__ import annotations

from bench.incident_work import measure


async def test_the_incident_work_announces_every_incident_once_and_says_what_each_step_cost() -> None:
    figures = await measure(300)  # asserts every incident announced once

    assert figures["placing"] > 0
    assert figures["baseline"] > 0
    assert figures["reviewing"] > 0
    # Placement and review entries, whole states and memberships: at least a kilobyte per alert.
    assert figures["log_bytes"] > 1000


async def test_storms_cost_their_placement_and_nothing_else() -> None:
    figures = await measure(300, storms=True)

    assert figures["placing"] > 0
    assert figures["baseline"] > 0
    assert figures["log_bytes"] > 100  # each alert's membership at least, in the placement's entries
    assert "reviewing" not in figures  # a storm's incident is reviewed once: not a cost per alert
