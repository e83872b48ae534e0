"""The stats page and the alert-fatigue report, aggregated in SQL (integer days of UTC microseconds)."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

from services.history._db import Database
from services.history._rows import CategoryPrecision, DayStats, RuleNoise, Stats
from services.history._write import micros

DAY_MICROS = 86_400_000_000
QUICK_RESOLUTION_MICROS = 300_000_000  # five minutes


def _start(days: int) -> tuple[int, int]:
    """The first day of the period (days since the epoch) and its start in microseconds."""
    today = micros(datetime.now(UTC)) // DAY_MICROS
    first = today - max(days, 1) + 1
    return first, first * DAY_MICROS


def _day(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=number)).isoformat()


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


async def stats(db: Database, days: int) -> Stats:
    first, since = _start(days)
    per_day = {
        row[0]: row[1:]
        for row in await db.fetch(
            f"SELECT received_at / {DAY_MICROS}, COUNT(*), SUM(degraded), SUM(llm_calls), SUM(prompt_tokens),"
            " SUM(completion_tokens) FROM alerts WHERE received_at >= ? GROUP BY 1",
            [since],
        )
    }
    categories: dict[int, dict[str, int]] = {}
    for day, category, count in await db.fetch(
        f"SELECT received_at / {DAY_MICROS}, category, COUNT(*) FROM alerts WHERE received_at >= ?"
        " GROUP BY 1, 2",
        [since],
    ):
        categories.setdefault(day, {})[category] = count
    incidents = dict(
        await db.fetch(
            f"SELECT opened_at / {DAY_MICROS}, COUNT(*) FROM incidents WHERE opened_at >= ? GROUP BY 1",
            [since],
        )
    )
    out = []
    for day in range(first, first + max(days, 1)):
        alerts, degraded, calls, prompt, completion = per_day.get(day, (0, 0, 0, 0, 0))
        out.append(
            DayStats(
                day=_day(day),
                alerts=alerts,
                incidents=incidents.get(day, 0),
                degraded=degraded or 0,
                degraded_share=(degraded or 0) / alerts if alerts else 0.0,
                llm_calls=calls or 0,
                prompt_tokens=prompt or 0,
                completion_tokens=completion or 0,
                categories=categories.get(day, {}),
            )
        )
    totals: dict[str, int] = {}
    for per_category in categories.values():
        for category, count in per_category.items():
            totals[category] = totals.get(category, 0) + count
    resolve = await _resolve_seconds(db, since)
    return Stats(
        days=out,
        categories=dict(sorted(totals.items(), key=lambda item: -item[1])),
        resolve_seconds_p50=_percentile(resolve, 0.5),
        resolve_seconds_p90=_percentile(resolve, 0.9),
        precision=await _precision(db, since),
    )


async def _resolve_seconds(db: Database, since: int) -> list[float]:
    """Incidents' time to resolve; the alerts' own when there are no incidents (incidents off)."""
    rows = await db.fetch(
        "SELECT resolved_at - opened_at FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at >= ?",
        [since],
    )
    if not rows:
        rows = await db.fetch(
            "SELECT ends_at - starts_at FROM alerts WHERE status = 'resolved' AND ends_at IS NOT NULL"
            " AND received_at >= ?",
            [since],
        )
    return sorted(max(row[0], 0) / 1e6 for row in rows)


async def _precision(db: Database, since: int) -> list[CategoryPrecision]:
    rows = await db.fetch(
        "SELECT COALESCE(NULLIF(f.category, ''), a.category, i.category, '') AS category,"
        " SUM(CASE WHEN f.verdict = 'confirmed' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN f.verdict = 'corrected' THEN 1 ELSE 0 END)"
        " FROM feedback f LEFT JOIN alerts a ON a.id = f.target_id"
        " LEFT JOIN incidents i ON i.id = f.target_id"
        " WHERE f.given_at >= ? GROUP BY 1 ORDER BY 1",
        [since],
    )
    return [
        CategoryPrecision(
            category=category,
            confirmed=confirmed,
            corrected=corrected,
            precision=confirmed / (confirmed + corrected),
        )
        for category, confirmed, corrected in rows
        if confirmed + corrected
    ]


async def noisiest(db: Database, days: int, limit: int = 20) -> list[RuleNoise]:
    _, since = _start(days)
    rows = await db.fetch(
        "SELECT a.alertname,"
        " SUM(CASE WHEN a.status = 'firing' THEN 1 ELSE 0 END) AS fired,"
        " SUM(CASE WHEN a.status = 'firing' THEN 1 ELSE 0 END)"
        "   - COUNT(DISTINCT CASE WHEN a.status = 'firing' THEN a.fingerprint END),"
        " SUM(CASE WHEN a.status = 'resolved' AND a.ends_at - a.starts_at <= ? THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN a.status = 'firing' AND f.target_id IS NULL THEN 1 ELSE 0 END)"
        " FROM alerts a LEFT JOIN feedback f ON f.target_id = a.id"
        " WHERE a.received_at >= ? GROUP BY a.alertname ORDER BY fired DESC, a.alertname LIMIT ?",
        [QUICK_RESOLUTION_MICROS, since, max(1, limit)],
    )
    return [
        RuleNoise(
            alertname=name, fired=fired, flapped=flapped, resolved_quickly=quick, without_feedback=silent
        )
        for name, fired, flapped, quick, silent in rows
    ]
