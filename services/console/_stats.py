"""``/stats``: volume per day, categories, degraded share, LLM use, time to resolve, precision from
feedback, and the noisiest rules (the alert-fatigue report: what to tune)."""

from __future__ import annotations

import schemas
from services.console._charts import bar_chart, ranked_chart
from services.console._filters import whole_number
from services.console._html import Frame, esc, layout, query_string
from services.console._rows import scrolling
from services.history import RuleNoise, Stats

PERIODS = (7, 30, 90)


def stats_days(value: str) -> int:
    """The period asked for, one of PERIODS (the first when the value is not one)."""
    asked = whole_number(value)
    return asked if asked is not None and asked in PERIODS else PERIODS[0]


def _figure(title: str, chart: str) -> str:
    return f'<figure class="stat"><figcaption>{esc(title)}</figcaption>{chart}</figure>'


def _seconds(value: float | None) -> str:
    return schemas.duration(value) if value is not None else "no incident resolved"


def stats_page(frame: Frame, days: int, stats: Stats | None, noisy: list[RuleNoise] | None) -> str:
    periods = " ".join(
        f'<a href="/stats?days={p}"{" aria-current=page" if p == days else ""}>{p} days</a>' for p in PERIODS
    )
    parts = [f"<h1>Stats, last {days} days</h1><p>{periods}</p>"]
    if stats is not None:
        d = stats.days
        parts += [
            '<div class="charts">',
            _figure("Alerts per day", bar_chart("alerts per day", [(x.day[5:], x.alerts) for x in d])),
            _figure(
                "Incidents per day", bar_chart("incidents per day", [(x.day[5:], x.incidents) for x in d])
            ),
            _figure(
                "Degraded share per day",
                bar_chart("degraded share", [(x.day[5:], x.degraded_share) for x in d], percent=True),
            ),
            _figure(
                "LLM calls per day", bar_chart("LLM calls per day", [(x.day[5:], x.llm_calls) for x in d])
            ),
            _figure(
                "LLM tokens per day",
                bar_chart("tokens per day", [(x.day[5:], x.prompt_tokens + x.completion_tokens) for x in d]),
            ),
            _figure(
                "Categories",
                ranked_chart("categories", sorted(stats.categories.items(), key=lambda kv: -kv[1])[:12]),
            ),
            "</div>",
            f"<h2>Time to resolve</h2><p>Median {esc(_seconds(stats.resolve_seconds_p50))},"
            f" 90th percentile {esc(_seconds(stats.resolve_seconds_p90))}.</p>",
            "<h2>Precision from feedback</h2>",
        ]
        rows = "".join(
            f"<tr><td>{esc(p.category)}</td><td>{p.confirmed}</td><td>{p.corrected}</td>"
            f"<td>{p.precision * 100:.0f}%</td></tr>"
            for p in stats.precision
        )
        parts.append(
            scrolling(
                '<table class="list"><thead><tr><th>Category</th><th>Confirmed</th><th>Corrected</th>'
                f"<th>Precision</th></tr></thead><tbody>{rows}</tbody></table>"
            )
            if rows
            else '<p class="empty">No feedback yet.</p>'
        )
    if noisy is not None:
        rows = "".join(
            f'<tr><td><a href="/{esc(query_string({"q": r.alertname}))}">{esc(r.alertname)}</a></td>'
            f"<td>{r.fired}</td>"
            f"<td>{r.flapped}</td><td>{r.resolved_quickly}</td><td>{r.without_feedback}</td></tr>"
            for r in noisy
        )
        parts.append(
            "<h2>Noisiest rules</h2>"
            + scrolling(
                '<table class="list noisy"><thead><tr><th>Alert</th><th>Fired</th><th>Flapped</th>'
                "<th>Resolved within 5 min</th><th>Without feedback</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>"
            )
        )
    return layout("Stats", frame, "".join(parts))
