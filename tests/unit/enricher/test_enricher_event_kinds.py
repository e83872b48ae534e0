"""Every finding the enricher writes reads back as its ``schemas.SeriesEvent``: the analyst's rules
match the kind, so a sentence reworded here without its kind would silently stop matching there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas import SeriesEvent
from services.enricher import summarise

T0 = 1_715_680_800.0  # 2024-05-14T10:00:00Z
STEP = 15.0
START = T0 + 15 * 60
WINDOW = (T0, T0 + 120 * STEP, STEP)

SHAPES: dict[SeriesEvent, Callable[[int], float]] = {
    SeriesEvent.SPIKE: lambda i: 0.97 if i in (60, 61) else 0.2,
    SeriesEvent.DIP: lambda i: 0.0 if i in (60, 61) else 4.0,
    SeriesEvent.ROSE: lambda i: 0.9 if 50 <= i < 70 else 0.2,
    SeriesEvent.FELL: lambda i: 0.0 if 50 <= i < 70 else 4.0,
    SeriesEvent.LEVEL_SHIFT: lambda i: 120.0 if i >= 60 else 40.0,
    SeriesEvent.INCREASED: lambda i: float(i // 20),
    SeriesEvent.STEADY_RISE: lambda i: 10.0 + i * 0.5,
    SeriesEvent.STEADY_FALL: lambda i: 50e9 - i * 0.3e9,
    SeriesEvent.STEP: lambda i: 42.0 if i >= 55 else 41.0,
}


@pytest.mark.parametrize("kind", list(SHAPES), ids=str)
def test_each_shape_is_told_as_its_kind(kind: SeriesEvent) -> None:
    points = [(T0 + i * STEP, SHAPES[kind](i)) for i in range(121)]
    summary = summarise({}, points, START, 100)
    assert summary is not None
    assert kind in [SeriesEvent.of(event) for event in summary.events], summary.events


def test_a_series_that_starts_and_one_that_ends_inside_the_window_are_told_as_such() -> None:
    came = summarise({}, [(T0 + i * STEP, 3.0) for i in range(40, 121)], START, 100, WINDOW)
    gone = summarise({}, [(T0 + i * STEP, 3.0) for i in range(80)], START, 100, WINDOW)
    assert came is not None
    assert gone is not None
    assert [SeriesEvent.of(event) for event in came.events] == [SeriesEvent.APPEARED]
    assert [SeriesEvent.of(event) for event in gone.events] == [SeriesEvent.DISAPPEARED]
