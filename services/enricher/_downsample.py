"""Fewer points with the same shape: per bucket keep the lowest and the highest sample.

Averaging would flatten the very spike that explains an alert; min/max keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def downsample(points: Sequence[Point], max_points: int) -> list[Point]:
    if max_points <= 0:
        return []
    if len(points) <= max_points:
        return list(points)
    if max_points == 1:
        return [points[-1]]
    buckets = max_points // 2
    size = len(points) / buckets
    kept: list[Point] = []
    for bucket in range(buckets):
        chunk = points[int(bucket * size) : int((bucket + 1) * size)]
        if not chunk:
            continue
        low = min(chunk, key=lambda p: p[1])
        high = max(chunk, key=lambda p: p[1])
        kept.extend(sorted({low, high}))
    return kept
