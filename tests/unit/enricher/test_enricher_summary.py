"""A series summarised as a reader needs it: levels, change at the alert, and what happened."""

from __future__ import annotations

import random

from services.enricher import summarise
from services.enricher._downsample import downsample

T0 = 1_715_680_800.0  # 2024-05-14T10:00:00Z
STEP = 15.0
START = T0 + 15 * 60  # the alert starts in the middle of a 30-minute window


def series(value_at: object, n: int = 121, noise: float = 0.0, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(T0 + i * STEP, value_at(i) + rng.gauss(0, noise)) for i in range(n)]  # type: ignore[operator]


def test_a_short_spike_is_told_with_its_peak_and_time() -> None:
    points = series(lambda i: 0.97 if i in (60, 61) else 0.2, noise=0.01)
    summary = summarise({"cpu": "0"}, points, START, 100)
    assert summary is not None
    assert len(summary.events) == 1
    assert summary.events[0].startswith("spike to 0.9")
    assert "10:15:" in summary.events[0]
    assert "typical 0.2" in summary.events[0]
    assert summary.max > 0.95


def test_a_level_shift_is_told_with_both_levels_and_no_noise_reads_as_a_spike() -> None:
    points = series(lambda i: 120.0 if i >= 60 else 40.0, noise=2.0)
    summary = summarise({}, points, START, 100)
    assert summary is not None
    [event] = summary.events
    assert event.startswith("level shift from 40")
    assert "to 120 (+199%)" in event
    assert "at 10:15:00Z, at the alert start" in event
    assert summary.before is not None
    assert abs(summary.before - 40) < 3
    assert summary.change_pct is not None
    assert summary.change_pct > 150


def test_a_filling_disk_is_a_steady_fall_with_the_time_left() -> None:
    points = series(lambda i: 50e9 - i * 0.3e9, noise=1e7)
    summary = summarise({"mountpoint": "/var"}, points, START, 100)
    assert summary is not None
    assert summary.trend_per_min < 0
    [event] = summary.events
    assert event.startswith("steady fall of 1.2G/min from 50G to 14G")
    assert "reaches 0 in about 12m" in event


def test_restarts_are_counted_not_called_a_trend() -> None:
    points = series(lambda i: float(i // 20))
    summary = summarise({"container": "api"}, points, START, 100)
    assert summary is not None
    assert summary.events == ["increased 6 times from 0 to 6, last at 10:30:00Z, 15m after the alert"]


def test_a_quiet_series_has_no_events_and_a_small_change() -> None:
    summary = summarise({}, series(lambda i: 0.5, noise=0.005), START, 100)
    assert summary is not None
    assert summary.events == []
    assert summary.change_pct is not None
    assert abs(summary.change_pct) < 5


def test_the_value_at_start_is_the_last_sample_at_or_before_it() -> None:
    summary = summarise({}, series(lambda i: float(i)), START, 100)
    assert summary is not None
    assert summary.at_start == 60.0
    assert summary.last == 120.0
    assert summary.min == 0.0
    assert summary.samples == 121


def test_nan_samples_are_ignored_and_an_empty_series_has_no_summary() -> None:
    assert summarise({}, [(T0, float("nan"))], START, 100) is None
    summary = summarise({}, [(T0, 1.0), (T0 + 15, float("nan")), (T0 + 30, 3.0)], START, 100)
    assert summary is not None
    assert summary.samples == 2
    assert summary.mean == 2.0


def test_downsampling_bounds_the_points_and_keeps_the_spike() -> None:
    points = series(lambda i: 9.0 if i == 333 else 1.0, n=1000)
    kept = downsample(points, 100)
    assert len(kept) <= 100
    assert max(v for _, v in kept) == 9.0
    assert kept == sorted(kept)
    assert downsample(points[:50], 100) == points[:50]


def test_a_new_generation_is_a_step_with_its_time_though_too_small_for_a_level_shift() -> None:
    points = series(lambda i: 42.0 if i >= 55 else 41.0)
    summary = summarise({"deployment": "api"}, points, START, 100)
    assert summary is not None
    assert summary.events == ["step from 41 to 42 at 10:13:45Z, 1m before the alert"]


def test_a_version_series_that_starts_or_ends_inside_the_window_says_so() -> None:
    old = [(t, v) for t, v in series(lambda i: 3.0) if t < START - 300]
    new = [(t, v) for t, v in series(lambda i: 3.0) if t >= START - 300]
    window = (T0, T0 + 120 * STEP, STEP)
    gone = summarise({"version": "2.4.0"}, old, START, 100, window)
    came = summarise({"version": "2.5.0"}, new, START, 100, window)
    assert gone is not None
    assert came is not None
    assert gone.events == ["disappeared after 10:09:45Z, 5m before the alert"]
    assert came.events == ["appeared at 10:10:00Z, 5m before the alert"]
    steady = summarise({"version": "2.4.0"}, series(lambda i: 1.0), START, 100, window)
    assert steady is not None
    assert steady.events == []
