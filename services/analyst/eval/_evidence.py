"""A benchmark incident's logs and series turned into Evidence by the enricher's own code.

This is the one adapter between the benchmark inputs and the enricher: when the enricher
changes how it reads logs or summarises series, this file follows (see docs/evaluation.md).

- logs: the enricher's own ``LogReader`` with its default settings, reading a Loki that holds the
  case's streams (``StoredLoki``). A stream line carries no time of its own: each stream's lines
  are spread evenly, in their order, over the case's ``span_s`` seconds ending at the alert's start.
- series: points over the enricher's window at its step, ``summarise`` per series, the most
  relevant first, one MetricEvidence per metric name, as a range query for that name returns them.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from schemas import Alert, EnrichmentError, LogEvidence, MetricEvidence
from services.analyst.eval._stored_loki import Entry, StoredLoki
from services.analyst.eval._unmappable import Unmappable
from services.enricher._build import log_limits_from
from services.enricher._enrich import Limits, Window
from services.enricher._logs import LogReader, Span
from services.enricher._loki import parse_label_map
from services.enricher._loki_source import LokiSettings
from services.enricher._settings import EnricherSettings
from services.enricher._summary import relevance, summarise

# Counters whose unit is not an event count grow continuously; the others step by whole events.
_CONTINUOUS = re.compile(r"_(?:seconds|bytes|sum)(?:_total)?$")
# A counter has been counting long before the window: its value at the window is not zero.
_COUNTER_HISTORY = 86400.0
# The stored Loki answers at once; the deadline only has to be in the future.
_DEADLINE_SECONDS = 20.0


# --- logs ---------------------------------------------------------------------------------------


def _stored(
    streams: Sequence[Mapping[str, Any]], span: float, starts_at: float
) -> list[tuple[dict[str, str], list[Entry]]]:
    stored = []
    for number, stream in enumerate(streams):
        labels, lines = stream.get("stream"), stream.get("lines")
        if not isinstance(labels, dict) or not isinstance(lines, list):
            raise Unmappable("a log stream without labels or lines")
        step = span / max(len(lines), 1)
        # A millisecond apart per stream: two pods logging the same line are two entries, as in Loki.
        end = starts_at - number * 0.001
        entries = [(end - span + step * (i + 1), str(line)) for i, line in enumerate(lines)]
        stored.append(({str(k): str(v) for k, v in labels.items()}, entries))
    return stored


def log_evidence(
    alert: Alert, streams: Sequence[Mapping[str, Any]], span: float, window: Window
) -> tuple[LogEvidence | None, list[EnrichmentError]]:
    """What the enricher's log reader publishes for this alert, given a Loki holding these streams."""
    settings = EnricherSettings()
    defaults = LokiSettings()
    loki = StoredLoki(_stored(streams, span, window.starts_at))
    reader = LogReader(
        loki,  # type: ignore[arg-type]  # the two calls LogReader makes, over stored streams
        parse_label_map(defaults.loki_label_map),
        defaults.loki_events_selector,
        log_limits_from(settings),
    )

    async def read() -> tuple[LogEvidence | None, list[EnrichmentError]]:
        deadline = asyncio.get_running_loop().time() + _DEADLINE_SECONDS
        logs, errors = await reader.read(alert.labels, Span(window.start, window.end), deadline)
        return logs, [error.to_evidence() for error in errors]

    return asyncio.run(read())


# --- series -------------------------------------------------------------------------------------

Shape = Callable[[float], float | None]


def shape_of(spec: Sequence[Any]) -> Shape:
    """A value (or None: no sample) at each second relative to the alert's start.

    ``const v``; ``step before after at``; ``saw low high period``; ``ramp from to t0 t1``;
    ``window v t0 t1`` (the series exists only from t0 to t1).
    """
    if not spec or not isinstance(spec[0], str) or not all(isinstance(x, int | float) for x in spec[1:]):
        raise Unmappable(f"shape {spec!r} is not a kind followed by numbers")
    kind, args = spec[0], [float(x) for x in spec[1:]]
    arity = {"const": 1, "step": 3, "saw": 3, "ramp": 4, "window": 3}
    if arity.get(kind) != len(args):
        raise Unmappable(f"unknown shape {kind!r} with {len(args)} numbers")
    if kind == "const":
        return lambda t: args[0]
    if kind == "step":
        return lambda t: args[0] if t < args[2] else args[1]
    if kind == "saw":
        low, high, period = args
        if period <= 0:
            raise Unmappable(f"saw with period {period:g}")
        return lambda t: low + (high - low) * (t % period) / period
    if kind == "ramp":
        a, b, t0, t1 = args

        def ramp(t: float) -> float:
            if t <= t0 or t1 <= t0:
                return a if t <= t0 else b
            return a + (b - a) * (min(t, t1) - t0) / (t1 - t0)

        return ramp
    value, t0, t1 = args
    return lambda t: value if t0 <= t < t1 else None


def points_of(name: str, kind: str, shape: Shape, window: Window) -> list[tuple[float, float]]:
    """Samples at the enricher's step; a counter's shape is its rate, its samples the running total."""
    times = [
        window.start + i * window.step for i in range(int((window.end - window.start) / window.step) + 1)
    ]
    relative = [t - window.starts_at for t in times]
    if kind != "counter":
        return [(t, v) for t, r in zip(times, relative, strict=True) if (v := shape(r)) is not None]
    whole = not _CONTINUOUS.search(name)
    total, at, samples = 0.0, relative[0] - _COUNTER_HISTORY, []
    for t, r in zip(times, relative, strict=True):
        while at < r:
            rate = shape(at)
            total += (rate or 0.0) * min(window.step, r - at)
            at += window.step
        if shape(r) is not None:
            samples.append((t, float(math.floor(total + 1e-9)) if whole else total))
    return samples


def metric_evidence(
    series: Sequence[Mapping[str, Any]], window: Window, limits: Limits
) -> tuple[list[MetricEvidence], int]:
    """One MetricEvidence per metric name, as a range query for that name returns it; and the skips."""
    grouped: dict[str, list[tuple[dict[str, str], list[tuple[float, float]]]]] = {}
    skipped = 0
    for entry in series:
        try:
            name, labels, kind = entry["name"], entry.get("labels") or {}, entry.get("kind", "gauge")
            points = points_of(name, kind, shape_of(entry["shape"]), window)
        except (Unmappable, KeyError, TypeError):
            skipped += 1
            continue
        grouped.setdefault(name, []).append((dict(labels), points))
    evidence = []
    for name, found in grouped.items():
        summaries = [
            s
            for labels, points in found
            if (s := summarise(labels, points, window.starts_at, limits.max_metrics_points))
        ]
        if not summaries:
            continue  # no sample in the window: the enricher's `exists` check drops such a query
        summaries.sort(key=lambda s: (-relevance(s), sorted(s.labels.items())))
        kept = summaries[: limits.max_series_per_query]
        evidence.append(
            MetricEvidence(
                name=name,
                query=name,
                series=kept,
                total_series=len(found),
                omitted_series=len(found) - len(kept),
            )
        )
    return evidence, skipped
