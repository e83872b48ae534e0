"""Numbers, durations and quantities as an on-call person reads them, the same in every message.

One formatter for the enricher's event lines, the analyst's explanations and the notifier's
messages, so that one value never reads two ways:

    number(4823.2)            -> "4.82k"      (three significant digits, never "5e+03")
    duration(5400)            -> "1h 30m"
    quantity(0.93, "ratio")   -> "93%"
    quantity(2.1e9, "bytes")  -> "1.96 GiB"
    unit_of('rate(node_disk_io_time_seconds_total[5m])')  -> "ratio"
"""

from __future__ import annotations

import math
import re
from typing import Literal

Unit = Literal["", "bytes", "seconds", "ratio", "percent"]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BINARY = ((2.0**40, "TiB"), (2.0**30, "GiB"), (2.0**20, "MiB"), (2.0**10, "KiB"))
_RATE = re.compile(r"\b(?:i?rate|increase|deriv)\s*\(")
# Whole words inside metric names: "error_ratio", not the "ratio" of "duration".
_WORD_RATIO = re.compile(r"(?<![a-z])ratio(?![a-z])")
_WORD_PERCENT = re.compile(r"(?<![a-z])(?:percent|percentage|pct)(?![a-z])")


def _significant(value: float) -> str:
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: float | None) -> str:
    """Three significant digits with an SI suffix from a thousand on: 0.981, 45.6k, 1.23G."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    for limit, suffix in _SI:
        # 999.7 rounds to 1000: say 1k, not 1e+03 or 1000.
        if magnitude >= limit * 0.9995:
            return f"{_significant(value / limit)}{suffix}"
    return _significant(value)


def duration(seconds: float) -> str:
    """The two largest units: 450 ms, 42 s, 3m 20s, 2h 5m, 3d 4h; negative spans keep their sign."""
    if not math.isfinite(seconds):
        return str(seconds)
    sign = "-" if seconds < 0 else ""
    span = abs(seconds)
    if span < 1:
        return f"{sign}{_significant(span * 1000)} ms"
    if span < 60:
        return f"{sign}{_significant(span)} s"
    whole = round(span)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return sign + " ".join(parts[:2])


def quantity(value: float | None, unit: Unit) -> str:
    """A value in its unit: bytes in binary units, seconds as a duration, ratios as percent."""
    if value is None or not math.isfinite(value):
        return number(value)
    if unit == "bytes":
        magnitude = abs(value)
        for limit, suffix in _BINARY:
            if magnitude >= limit:
                return f"{_significant(value / limit)} {suffix}"
        return f"{_significant(value)} B"
    if unit == "seconds":
        return duration(value)
    if unit == "ratio":
        return f"{_significant(value * 100)}%"
    if unit == "percent":
        return f"{_significant(value)}%"
    return number(value)


def unit_of(metric: str) -> Unit:
    """The unit a metric name or query is in, by Prometheus' naming conventions."""
    lowered = metric.lower()
    if _WORD_PERCENT.search(lowered) or re.search(r"\*\s*100\b", lowered):
        return "percent"
    rated = bool(_RATE.search(lowered))
    # a / b of two quantities of one kind, or rate() of a seconds counter (the share of time
    # spent: busy 0.93 of the time is 93%), is a ratio.
    divided = "/" in lowered and any(lowered.count(word) >= 2 for word in ("bytes", "_seconds", "_total"))
    if _WORD_RATIO.search(lowered) or divided or (rated and "_seconds_total" in lowered):
        return "ratio"
    if "bytes" in lowered:
        return "" if rated else "bytes"
    if "_seconds" in lowered or "time()" in lowered or "expiry" in lowered:
        return "seconds"
    return ""
