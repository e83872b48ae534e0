"""Memory recalls other outages: the alert's own incident is left out in the query, not after it."""

from __future__ import annotations

from datetime import timedelta

from services.history import History, recall
from tests.support.history import T0, analyzed

STORM = 260  # more than any of recall's queries fetches (200 by name, 50 by service or namespace)


async def test_a_storm_larger_than_a_query_does_not_push_out_the_outage_seen_before(history: History) -> None:
    labels = {"pod": "checkout-7d9f8b6c4-abcde", "node": "ip-10-0-1-7"}
    last_week = analyzed(1, alertname="KubePodNotReady", labels=labels, incident_id="inc-old")
    here = T0 + timedelta(days=7)
    siblings = [
        analyzed(
            10 + n,
            at=here + timedelta(milliseconds=n),
            alertname="KubePodNotReady",
            labels={**labels, "pod": f"cart-7d9f8b6c4-{n:05d}"},
            incident_id="inc-storm",
        )
        for n in range(STORM)
    ]
    await history.write(alerts=[last_week, *siblings])
    memory = await recall(history, siblings[-1], limit=3)
    assert [one.past.id for one in memory.recalled] == [last_week.id]
