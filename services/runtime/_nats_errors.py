"""What the log says of a NATS connection's errors: plainly when the server refuses our credentials,
and the same error once, then at most once a minute while it lasts.

nats-py reports every failed attempt, one each half second while a server is down or refuses us: 89
identical lines in 45 s hid whether anything changed. A refusal of our credentials left in nats-py's
words (``nats: 'Authorization Violation'``) read like an outage that would pass, and named no setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.nats_refusal import REFUSED, refused_credentials

# How often an error that lasts is said again, with how many attempts failed that way meanwhile.
REPEAT_SECONDS = 60.0


def describe(exc: BaseException) -> str:
    if refused_credentials(exc):
        return f"the server {REFUSED}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RepeatedErrors:
    """Which of a connection's errors to log: each error at once the first time, the same again once
    per ``every`` seconds, saying how many attempts failed that way since it was last logged. Kept per
    error: a cluster's servers fail in turn, each in its own words."""

    def __init__(self, every: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        # Each error said: when it was last logged, and how many attempts failed that way since.
        self._said: dict[str, tuple[float, int]] = {}

    def line(self, text: str) -> str | None:
        """The line to log for ``text`` now, or None to stay quiet."""
        now = self._clock()
        if text not in self._said:
            self._said[text] = (now, 0)
            return text
        logged_at, unlogged = self._said[text]
        if now - logged_at < self._every:
            self._said[text] = (logged_at, unlogged + 1)
            return None
        self._said[text] = (now, 0)
        return f"{text} (still: {unlogged + 1} attempts in {now - logged_at:.0f}s)"

    def clear(self) -> None:
        """Connected (again): the next outage's errors are new."""
        self._said.clear()
