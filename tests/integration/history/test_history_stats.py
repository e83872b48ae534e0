"""The stats page and the noisiest rules, against both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.history import History
from tests.support.history import analyzed, incident_event, verdict


async def test_stats_count_per_day_with_degraded_share_tokens_and_precision(history: History) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    await history.write(
        [
            analyzed(
                1, at=yesterday + timedelta(hours=1), analyzer="llm", prompt_tokens=100, completion_tokens=20
            ),
            analyzed(2, at=yesterday + timedelta(hours=2), degraded=True, category="network"),
            analyzed(3, at=today + timedelta(minutes=1)),
            analyzed(4, at=today - timedelta(days=30)),  # outside the period
        ],
        incidents=[
            incident_event("inc-1", opened_at=yesterday, at=yesterday + timedelta(minutes=10)),
            incident_event(
                "inc-2",
                2,
                status="resolved",
                opened_at=today,
                at=today + timedelta(minutes=2),
                resolved_at=today + timedelta(minutes=2),
            ),
        ],
        feedback=[
            verdict("a0000001", at=today),
            verdict(
                "a0000002", verdict="corrected", category="network", corrected="dependency_failure", at=today
            ),
            verdict("a0000003", at=today),
        ],
    )
    stats = await history.stats(2)
    assert [(day.day, day.alerts, day.incidents) for day in stats.days] == [
        (yesterday.date().isoformat(), 2, 1),
        (today.date().isoformat(), 1, 1),
    ]
    first = stats.days[0]
    assert (first.degraded, first.degraded_share, first.llm_calls, first.prompt_tokens) == (1, 0.5, 1, 100)
    assert first.categories == {"cpu_saturation": 1, "network": 1}
    assert stats.categories == {"cpu_saturation": 2, "network": 1}
    assert stats.resolve_seconds_p50 == 120.0
    precision = {row.category: (row.confirmed, row.corrected, row.precision) for row in stats.precision}
    assert precision == {"cpu_saturation": (2, 0, 1.0), "network": (0, 1, 0.0)}


async def test_the_noisiest_rules_show_what_fires_flaps_and_resolves_at_once(history: History) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    flappy = [
        analyzed(n, alertname="Flappy", at=now + timedelta(minutes=n), starts_at=now + timedelta(minutes=n))
        for n in range(3)
    ]
    quick = analyzed(
        10, alertname="Flappy", status="resolved", at=now + timedelta(minutes=4),
        starts_at=now, ends_at=now + timedelta(minutes=2),
    )  # fmt: skip
    slow = analyzed(
        11, alertname="Steady", status="resolved", at=now + timedelta(minutes=50),
        starts_at=now, ends_at=now + timedelta(minutes=40),
    )  # fmt: skip
    steady = analyzed(20, alertname="Steady", at=now)
    await history.write([*flappy, quick, slow, steady], feedback=[verdict("a0000000", at=now)])
    noise = await history.noisiest(7)
    assert [
        (rule.alertname, rule.fired, rule.flapped, rule.resolved_quickly, rule.without_feedback)
        for rule in noise
    ] == [
        ("Flappy", 3, 2, 1, 2),
        ("Steady", 1, 0, 0, 1),
    ]
    assert [rule.alertname for rule in await history.noisiest(7, limit=1)] == ["Flappy"]
