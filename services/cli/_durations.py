"""The times commands take on their command line: a duration (``2h``) or a time (RFC 3339).

Apart from ``_window`` (which reads the stream) so that building the command line imports no NATS client:
``aiops status`` pays every import of the CLI, and nats-py with its dependencies is a third of a second.
Both parsers are argparse types: what they refuse, argparse reports as the flag's error, in their words.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_EXAMPLES = "90s, 30m, 2h or 7d"


def _duration(text: str) -> timedelta | None:
    match = _DURATION.match(text.strip().lower())
    if not match:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A duration ago (``2h``) or an RFC 3339 time (``2026-11-26T10:00:00Z``), in UTC."""
    now = now or datetime.now(UTC)
    try:
        duration = _duration(text)
        if duration is not None:
            return now - duration
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # In UTC here: a time at the calendar's edge whose UTC falls outside it is refused now,
        # not when a window is compared or printed.
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one no datetime holds (800000d ago)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give a duration back from now ({DURATION_EXAMPLES}) "
            "or an RFC 3339 time (2026-11-26T10:00:00Z, 2026-11-26T10:00+01:00, 2026-11-26)"
        ) from None
