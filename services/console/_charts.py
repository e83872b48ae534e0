"""Charts as inline SVG, drawn on the server from numbers: no script, no library, no request.

Every text that came from an alert (series labels) is escaped; numbers are formatted by us.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

import schemas

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 12, 10, 24
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")


def _label(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "series"


def _clock(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M")


def _short(label: str, width: int = 12) -> str:
    """An axis label that fits under its bar; the whole label is in the bar's tooltip."""
    return label if len(label) <= width else label[: width - 1] + "…"


def _number(value: float) -> str:
    return schemas.number(value) if math.isfinite(value) else "-"


def line_chart(title: str, series: Sequence[schemas.SeriesSummary], marker: datetime | None = None) -> str:
    """One metric query's series over time, with the alert's start as a dashed vertical line."""
    points = [(t, v) for s in series for t, v in s.points if math.isfinite(t) and math.isfinite(v)]
    if not points:
        return ""
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    mark = marker.timestamp() if marker is not None else None
    if mark is not None:
        t0, t1 = min(t0, mark), max(t1, mark)
    v0, v1 = min(p[1] for p in points), max(p[1] for p in points)
    if v0 == v1:
        v0, v1 = v0 - 1, v1 + 1
    span_t = (t1 - t0) or 1.0
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: float) -> float:
        return PAD_LEFT + (t - t0) / span_t * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (v1 - v) / (v1 - v0) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 10}" text-anchor="end">{escape(_number(v1))}</text>',
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">{escape(_number(v0))}</text>',
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}">{_clock(t0)}</text>',
        f'<text x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">{_clock(t1)} UTC</text>',
    ]
    for i, s in enumerate(series):
        drawn = [(t, v) for t, v in s.points if math.isfinite(t) and math.isfinite(v)]
        if not drawn:
            continue
        path = " ".join(f"{'M' if j == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for j, (t, v) in enumerate(drawn))
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<path class="series" d="{path}" fill="none" stroke="{colour}" stroke-width="1.5">'
            f"<title>{escape(_label(s.labels))}</title></path>"
        )
    if mark is not None:
        parts.append(
            f'<line class="start" x1="{x(mark):.1f}" x2="{x(mark):.1f}"'
            f' y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}"'
            ' stroke="#111" stroke-dasharray="4 3"><title>alert started</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, percent: bool = False) -> str:
    """Labelled bars (a day, a category) with their values written above them."""
    if not bars:
        return '<p class="empty">No data yet.</p>'
    top = max((value for _, value in bars), default=0.0) or 1.0
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / len(bars)
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM - 12
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(bars):
        h = max(value, 0.0) / top * plot_h
        bx = PAD_LEFT + i * slot + slot * 0.15
        by = PAD_TOP + 12 + plot_h - h
        shown = f"{value * 100:.0f}%" if percent else _number(value)
        parts.append(
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#2563eb">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            f'<text x="{bx + slot * 0.35:.1f}" y="{by - 2:.1f}" text-anchor="middle">{escape(shown)}</text>'
        )
        if len(bars) <= 16 or i % max(1, len(bars) // 8) == 0:
            parts.append(
                f'<text x="{bx + slot * 0.35:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
                f"{escape(_short(label))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def ranked_chart(title: str, bars: Sequence[tuple[str, float]]) -> str:
    """Named bars one under another, in the order given, each whole name on its left (under a column
    a name only gets the column's width: category names overlapped, or were cut short)."""
    if not bars:
        return '<p class="empty">No data yet.</p>'
    top = max((value for _, value in bars), default=0.0) or 1.0
    row_h, label_w, value_w = 24, 216, 56
    height = PAD_TOP * 2 + row_h * len(bars)
    plot_w = WIDTH - label_w - value_w
    parts = [
        f'<svg class="chart bars ranked" viewBox="0 0 {WIDTH} {height}" role="img"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(bars):
        y = PAD_TOP + i * row_h
        w = max(value, 0.0) / top * plot_w
        shown, baseline = _number(value), y + row_h - 7
        parts.append(
            f'<text x="{label_w - 8}" y="{baseline}" text-anchor="end">{escape(_short(label, 22))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="#2563eb">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{baseline}">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_chart(members: Sequence[schemas.IncidentMember], until: datetime) -> str:
    """An incident's members as bars from their start to their end (or ``until`` while firing)."""
    if not members:
        return ""
    t0 = min(m.starts_at for m in members).timestamp()
    t1 = max([until.timestamp(), *((m.ends_at or until).timestamp() for m in members)])
    span = (t1 - t0) or 1.0
    # 40 characters of 11 px text fit in 254 px: a name cut on the left hid the alert and its role.
    row_h, label_w = 18, 260
    height = PAD_TOP + row_h * len(members) + PAD_BOTTOM
    plot_w = WIDTH - label_w - PAD_RIGHT
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {WIDTH} {height}" role="img"'
        ' aria-label="members over time">',
        "<title>members over time</title>",
    ]
    for i, m in enumerate(members):
        y = PAD_TOP + i * row_h
        x0 = label_w + (m.starts_at.timestamp() - t0) / span * plot_w
        x1 = label_w + ((m.ends_at or until).timestamp() - t0) / span * plot_w
        colour = "#dc2626" if m.role == "root" else ("#9ca3af" if m.status == "resolved" else "#d97706")
        name = f"{m.alertname} ({m.role})"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(_short(name, 40))}</text>'
            f'<rect class="member" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 2):.1f}"'
            f' height="{row_h - 6}"'
            f' fill="{colour}"><title>{escape(name)}: {escape(m.summary)}</title></rect>'
        )
    parts.append(
        f'<text x="{label_w}" y="{height - 6}">{_clock(t0)}</text>'
        f'<text x="{WIDTH - PAD_RIGHT}" y="{height - 6}" text-anchor="end">{_clock(t1)} UTC</text></svg>'
    )
    return "".join(parts)
