"""Charts drawn on the server: one path per series, the alert's start marked, text escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import schemas
from services.console._charts import bar_chart, line_chart, timeline_chart

START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _series(label: str, points: list[tuple[float, float]]) -> schemas.SeriesSummary:
    return schemas.SeriesSummary(
        labels={"pod": label}, samples=len(points), min=0, max=1, mean=0.5, last=1, points=points
    )


def test_each_series_is_one_path_through_its_points_and_the_start_is_marked() -> None:
    t = START.timestamp()
    svg = line_chart(
        "cpu",
        [
            _series("a", [(t - 60, 0.1), (t, 0.5), (t + 60, 0.9)]),
            _series("b", [(t - 60, 0.3), (t + 60, 0.2)]),
        ],
        START,
    )
    assert svg.count('class="series"') == 2
    assert svg.count(" L") == 3  # 3 points -> 2 segments, 2 points -> 1 segment
    assert 'class="start"' in svg


def test_points_that_are_not_numbers_are_left_out_and_nothing_is_drawn_without_points() -> None:
    t = START.timestamp()
    svg = line_chart(
        "cpu", [_series("a", [(t, float("nan")), (t + 1, 1.0), (t + 2, float("inf")), (t + 3, 2.0)])]
    )
    assert "nan" not in svg.lower()
    assert "inf" not in svg.lower()
    assert line_chart("cpu", [_series("a", [])], START) == ""


def test_labels_from_alerts_are_escaped_in_every_chart() -> None:
    evil = '<script>alert(1)</script>"'
    t = START.timestamp()
    member = schemas.IncidentMember(
        alert_id="x", alertname=evil, status="firing", starts_at=START, summary=evil
    )
    for svg in (
        line_chart(evil, [_series(evil, [(t, 1.0), (t + 1, 2.0)])], START),
        bar_chart(evil, [(evil, 3.0)]),
        timeline_chart([member], START),
    ):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg


def test_bars_are_as_tall_as_their_share_of_the_largest() -> None:
    svg = bar_chart("alerts", [("11-29", 10.0), ("11-30", 5.0)])
    heights = [float(part.split('"')[0]) for part in svg.split('height="')[1:]]
    assert heights[0] == 2 * heights[1]


def test_the_timeline_names_each_member_whole_or_cut_at_its_end_and_the_axis_says_utc() -> None:
    names = ("KubernetesContainerOomKiller", "KubeDeploymentReplicasMismatch", "KubePodNotReady")
    members = [
        schemas.IncidentMember(
            alert_id=f"a{i}", alertname=name, status="firing", starts_at=START, role="related"
        )
        for i, name in enumerate(names)
    ]
    svg = timeline_chart(members, START.replace(hour=11))
    labels = re.findall(r'text-anchor="end">([^<]*)</text>', svg)
    # 11 px text in the label column: about 6 px a character, so at most 40 of them fit.
    assert all(len(label) <= 40 for label in labels), labels
    assert "KubernetesContainerOomKiller (related)" in labels  # the name and its role, from the start
    assert labels[-1].endswith(" UTC")
