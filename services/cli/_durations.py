"""The times commands take on their command line: a duration (``2h``) or a time (RFC 3339).

Apart from ``_window`` (which reads the stream) so that building the command line imports no NATS client:
``aiops status`` pays every import of the CLI, and nats-py with its dependencies is a third of a second.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``7d``."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 7d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A duration ago (``2h``) or an RFC 3339 time (``2026-11-26T10:00:00Z``)."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is neither a duration (2h) nor a time (2026-11-26T10:00:00Z)") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)
