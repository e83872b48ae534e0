"""How a benchmark incident's series and log streams become evidence (no benchmark input needed)."""

from __future__ import annotations

import asyncio

import pytest

from services.analyst.eval._evidence import metric_evidence, points_of, shape_of
from services.analyst.eval._stored_loki import StoredLoki
from services.analyst.eval._unmappable import Unmappable
from services.enricher._enrich import Limits, Window

STARTS_AT = 1_000_000.0
WINDOW = Window(start=STARTS_AT - 900, end=STARTS_AT + 30, starts_at=STARTS_AT, step=15.0)


def test_shapes_give_a_value_at_each_second_relative_to_the_alert() -> None:
    assert shape_of(["const", 5])(-100) == 5
    step = shape_of(["step", 0, 1, -60])
    assert (step(-61), step(-60)) == (0, 1)
    saw = shape_of(["saw", 10, 20, 60])
    assert (saw(0), saw(30)) == (10, 15)
    late = saw(59.9)
    assert late is not None
    assert late < 20
    ramp = shape_of(["ramp", 0, 100, -100, 0])
    assert (ramp(-200), ramp(-50), ramp(10)) == (0, 50, 100)
    window = shape_of(["window", 3, -60, 0])
    assert (window(-61), window(-60), window(0)) == (None, 3, None)


@pytest.mark.parametrize("spec", [[], ["wobble", 1], ["step", 1], ["const", "x"], ["saw", 0, 1, 0]])
def test_a_shape_that_cannot_be_read_is_unmappable(spec: list[object]) -> None:
    with pytest.raises(Unmappable):
        shape_of(spec)


def test_a_counter_of_events_steps_by_whole_events_from_its_rate() -> None:
    # One restart a minute from 5 minutes before the alert: 5 restarts at the alert's start.
    points = points_of("restarts_total", "counter", shape_of(["step", 0, 1 / 60, -300]), WINDOW)
    values = dict(points)
    assert values[STARTS_AT - 900] == 0
    assert values[STARTS_AT] == 5
    assert all(v == int(v) for v in values.values())


def test_a_counter_of_seconds_grows_continuously_from_a_day_of_history() -> None:
    points = points_of("cpu_seconds_total", "counter", shape_of(["const", 0.5]), WINDOW)
    first, last = points[0][1], points[-1][1]
    assert first == pytest.approx(0.5 * 86400)
    assert last - first == pytest.approx(0.5 * 930)


def test_a_series_absent_from_the_window_gives_no_evidence_and_a_bad_one_is_counted() -> None:
    series = [
        {"name": "gone", "labels": {}, "kind": "gauge", "shape": ["window", 1, -3000, -2000]},
        {"name": "broken", "labels": {}, "kind": "gauge", "shape": ["zigzag", 1]},
        {"name": "up", "labels": {"job": "a"}, "kind": "gauge", "shape": ["step", 1, 0, -120]},
        {"name": "up", "labels": {"job": "b"}, "kind": "gauge", "shape": ["const", 1]},
    ]
    evidence, skipped = metric_evidence(series, WINDOW, Limits())
    assert skipped == 1
    assert [(m.name, m.total_series) for m in evidence] == [("up", 2)]
    # The series that changed is the more telling one, as the enricher orders them.
    assert evidence[0].series[0].labels == {"job": "a"}


def _query(loki: StoredLoki, query: str, *, forward: bool = False, limit: int = 10) -> list[str]:
    return [line for _, line in asyncio.run(loki.query_range(query, 0, 100, limit, 0, forward=forward))]


def test_the_stored_loki_reads_the_logql_the_enricher_sends() -> None:
    loki = StoredLoki(
        [
            (
                {"namespace": "shop", "pod": "api-7f9c8d6b5-r7t2v"},
                [(1, "ok"), (2, "error: boom"), (3, "WARN")],
            ),
            ({"namespace": "shop", "pod": "db-0"}, [(4, "error: disk")]),
        ]
    )
    assert _query(loki, '{namespace="shop", pod=~"api-[a-z0-9]{6,10}-[a-z0-9]{5}"}') == [
        "ok",
        "error: boom",
        "WARN",
    ]
    assert _query(loki, '{namespace="shop"} |~ `(?i)\\b(error|warn)\\b`', limit=2) == [
        "WARN",
        "error: disk",
    ]
    assert _query(loki, '{namespace="shop"}', forward=True, limit=1) == ["ok"]
    assert _query(loki, '{pod!="db-0"} |= "boom"') == ["error: boom"]
    found = asyncio.run(loki.series(['{pod=~"db-.*"}', '{pod="nope"}'], 0, 100, 0))
    assert found == [{"namespace": "shop", "pod": "db-0"}]
    with pytest.raises(Unmappable):
        _query(loki, '{namespace="shop"} | json')
