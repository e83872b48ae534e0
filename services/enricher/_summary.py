"""Turning a time series into what a reader needs: levels, change at the alert, and its story.

Events are plain sentences ("spike to 0.98 at 10:03:00Z, 2m before the alert") because
their reader is a person or an LLM; each starts with the phrase of its ``schemas.SeriesEvent``,
so that a program reads its kind back.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime

import schemas
from schemas import SeriesEvent, SeriesSummary
from services.enricher._downsample import downsample

Point = tuple[float, float]

_SPIKE_SCALES = 6.0
_MAX_SPIKES = 3
_RAMP_FIT = 0.8
_MAX_STEPS = 3


def _when(timestamp: float, starts_at: float) -> str:
    clock = datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%SZ")
    offset = round((timestamp - starts_at) / 60)
    if offset == 0:
        return f"{clock}, at the alert start"
    relation = "after" if offset > 0 else "before"
    return f"{clock}, {abs(offset)}m {relation} the alert"


def _slope_and_fit(points: Sequence[Point]) -> tuple[float, float]:
    """Least-squares slope per second and R² (0 when the series is flat)."""
    n = len(points)
    if n < 3:
        return 0.0, 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    stt = sum((t - mean_t) ** 2 for t, _ in points)
    svv = sum((v - mean_v) ** 2 for _, v in points)
    stv = sum((t - mean_t) * (v - mean_v) for t, v in points)
    if stt == 0 or svv == 0:
        return 0.0, 0.0
    return stv / stt, (stv * stv) / (stt * svv)


def _spikes(points: Sequence[Point], starts_at: float) -> list[str]:
    """Short excursions far from the median (robust: median absolute deviation)."""
    values = [v for _, v in points]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    scale = max(1.4826 * mad, 0.1 * abs(median), 1e-9)
    outside = [abs(v - median) > _SPIKE_SCALES * scale for v in values]
    runs: list[tuple[int, int]] = []
    start = None
    for index, flag in enumerate([*outside, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    # An excursion reaching either end of the window is a level shift or a ramp, told elsewhere.
    inside = [(begin, end) for begin, end in runs if begin > 0 and end < len(points)]
    events = []
    for begin, end in inside[:_MAX_SPIKES]:
        peak = max(range(begin, end), key=lambda i: abs(values[i] - median))
        typical = f"(typical {schemas.number(median)})"
        if end - begin <= max(2, len(points) // 10):
            word = SeriesEvent.SPIKE if values[peak] > median else SeriesEvent.DIP
            events.append(
                f"{word} {schemas.number(values[peak])} at {_when(points[peak][0], starts_at)} {typical}"
            )
            continue
        word = SeriesEvent.ROSE if values[peak] > median else SeriesEvent.FELL
        minutes = (points[end - 1][0] - points[begin][0]) / 60
        since = _when(points[begin][0], starts_at)
        events.append(f"{word} {schemas.number(values[peak])} for {minutes:.0f}m from {since} {typical}")
    return events


def _level_shift(points: Sequence[Point], starts_at: float) -> tuple[str, int] | None:
    """The one split where the level before and after differ most, if it clearly stands out."""
    n = len(points)
    if n < 8:
        return None
    values = [v for _, v in points]
    margin = max(2, n // 10)
    prefix = [0.0]
    for value in values:
        prefix.append(prefix[-1] + value)
    total = prefix[-1]

    def gap(split: int) -> float:
        return abs((total - prefix[split]) / (n - split) - prefix[split] / split)

    split = max(range(margin, n - margin + 1), key=gap)
    left_values, right_values = values[:split], values[split:]
    left, right = statistics.median(left_values), statistics.median(right_values)
    noise = max(statistics.pstdev(left_values), statistics.pstdev(right_values))
    shift = right - left
    if abs(shift) <= 5 * noise or abs(shift) <= 0.1 * max(abs(left), abs(right)):
        return None
    percent = f" ({shift / abs(left) * 100:+.0f}%)" if left else ""
    text = (
        f"{SeriesEvent.LEVEL_SHIFT} from {schemas.number(left)} to {schemas.number(right)}{percent} "
        f"at {_when(points[split][0], starts_at)}"
    )
    return text, split


def _increases(points: Sequence[Point], starts_at: float) -> str | None:
    """Counters such as restarts: how often they went up, and when last."""
    values = [v for _, v in points]
    if any(b < a for a, b in itertools.pairwise(values)):
        return None
    steps = [i for i in range(1, len(values)) if values[i] > values[i - 1]]
    # A counter of events steps now and then; a gauge that creeps up steps at almost every sample.
    if not 2 <= len(steps) < len(values) // 4 or any(v != int(v) for v in values):
        return None
    return (
        f"{SeriesEvent.INCREASED} {len(steps)} times "
        f"from {schemas.number(values[0])} to {schemas.number(values[-1])}, "
        f"last at {_when(points[steps[-1]][0], starts_at)}"
    )


def _ramp(points: Sequence[Point], slope: float, fit: float) -> str | None:
    first, last = points[0][1], points[-1][1]
    duration = points[-1][0] - points[0][0]
    scale = max(abs(first), abs(last), 1e-12)
    if fit < _RAMP_FIT or abs(slope * duration) < 0.1 * scale:
        return None
    kind = SeriesEvent.STEADY_RISE if slope > 0 else SeriesEvent.STEADY_FALL
    text = (
        f"{kind} of {schemas.number(abs(slope) * 60)}/min "
        f"from {schemas.number(first)} to {schemas.number(last)}"
    )
    if slope < 0 < last:
        text += f"; at this rate it reaches 0 in about {last / -slope / 60:.0f}m"
    return text


def _steps(points: Sequence[Point], starts_at: float) -> list[str]:
    """Whole-number levels that change rarely (generations, replicas): each change and its time.

    Told only when nothing else was: a generation going from 41 to 42 is too small a change
    for a level shift, yet it is the rollout.
    """
    values = [v for _, v in points]
    if any(v != int(v) for v in values):
        return []
    changes = [i for i in range(1, len(values)) if values[i] != values[i - 1]]
    if not 1 <= len(changes) <= _MAX_STEPS:
        return []
    return [
        f"{SeriesEvent.STEP} {schemas.number(values[i - 1])} to {schemas.number(values[i])} "
        f"at {_when(points[i][0], starts_at)}"
        for i in changes
    ]


def _presence(points: Sequence[Point], starts_at: float, window: tuple[float, float, float]) -> list[str]:
    """A series that starts or ends inside the window: a new version, ReplicaSet or pod; one gone."""
    start, end, step = window
    events = []
    if points[0][0] > start + 2 * step:
        events.append(f"{SeriesEvent.APPEARED} {_when(points[0][0], starts_at)}")
    if points[-1][0] < end - 2 * step:
        events.append(f"{SeriesEvent.DISAPPEARED} {_when(points[-1][0], starts_at)}")
    return events


def _baseline(points: Sequence[Point], starts_at: float) -> float | None:
    """The level before the trouble: median of the earliest third of the pre-alert samples."""
    before = [v for t, v in points if t < starts_at]
    if not before:
        return None
    return statistics.median(before[: max(1, len(before) // 3)])


def summarise(
    labels: dict[str, str],
    points: Sequence[Point],
    starts_at: float,
    max_points: int,
    window: tuple[float, float, float] | None = None,
) -> SeriesSummary | None:
    """Summary of one series; None when it holds no finite sample.

    ``window`` (start, end, step) lets the summary say that a series appeared or disappeared.
    """
    clean = sorted((t, v) for t, v in points if math.isfinite(v))
    if not clean:
        return None
    values = [v for _, v in clean]
    at_or_before = [v for t, v in clean if t <= starts_at]
    at_start = at_or_before[-1] if at_or_before else values[0]
    before = _baseline(clean, starts_at)
    change_abs = at_start - before if before is not None else None
    change_pct = change_abs / abs(before) * 100 if change_abs is not None and before else None
    slope, fit = _slope_and_fit(clean)
    trend = _increases(clean, starts_at) or _ramp(clean, slope, fit)
    shift = None if trend else _level_shift(clean, starts_at)
    # Spikes are judged against their own level: across a shift the median sits on one side.
    segments = [clean[: shift[1]], clean[shift[1] :]] if shift else [clean]
    events = [event for segment in segments if len(segment) >= 5 for event in _spikes(segment, starts_at)]
    events = events[:_MAX_SPIKES]
    events.extend(finding for finding in (trend, shift[0] if shift else None) if finding)
    if not events:
        events = _steps(clean, starts_at)
    if window is not None:
        events.extend(_presence(clean, starts_at, window))
    return SeriesSummary(
        labels=labels,
        samples=len(clean),
        min=min(values),
        max=max(values),
        mean=statistics.fmean(values),
        last=values[-1],
        at_start=at_start,
        before=before,
        change_abs=change_abs,
        change_pct=round(change_pct, 1) if change_pct is not None else None,
        trend_per_min=slope * 60,
        events=events,
        points=downsample(clean, max_points),
    )


def relevance(summary: SeriesSummary) -> float:
    """How much a series has to say: events, change at the alert, spread relative to level."""
    spread = summary.max - summary.min
    relative_spread = spread / (abs(summary.mean) + spread) if spread else 0.0
    change = min(abs(summary.change_pct or 0.0) / 100, 5.0)
    return len(summary.events) + change + relative_spread
