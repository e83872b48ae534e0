"""What the log says of a NATS connection's errors: plainly when the server refuses our credentials,
and the same error once, then at most once a minute while it lasts.

nats-py reports every failed attempt, one each half second while a server is down or refuses us: 89
identical lines in 45 s hid whether anything changed. A refusal of our credentials left in nats-py's
words (``nats: 'Authorization Violation'``) read like an outage that would pass, and named no setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nats.errors import AuthorizationError

# How often an error that lasts is said again, with how many attempts failed that way meanwhile.
REPEAT_SECONDS = 60.0
CREDENTIALS_HINT = "check the user and password in NATS_URL, NATS_TOKEN or NATS_CREDS"


def refused_credentials(exc: BaseException) -> bool:
    """The server refused the user and password, token or credentials we gave it."""
    # nats-py raises a bare Error with the server's -ERR text while connecting, and an
    # AuthorizationError once connected.
    return isinstance(exc, AuthorizationError) or "authorization violation" in str(exc).lower()


def describe(exc: BaseException) -> str:
    if refused_credentials(exc):
        return f"the server refused our credentials (Authorization Violation): {CREDENTIALS_HINT}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RepeatedErrors:
    """Which of a connection's errors to log: a new one at once, the same again once per ``every``
    seconds, saying how many attempts failed that way since it was last logged."""

    def __init__(self, every: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._last: str | None = None
        self._logged_at = 0.0
        self._unlogged = 0

    def line(self, text: str) -> str | None:
        """The line to log for ``text`` now, or None to stay quiet."""
        now = self._clock()
        if text != self._last:
            self._last, self._logged_at, self._unlogged = text, now, 0
            return text
        self._unlogged += 1
        if now - self._logged_at < self._every:
            return None
        line = f"{text} (still: {self._unlogged} attempts in {now - self._logged_at:.0f}s)"
        self._logged_at, self._unlogged = now, 0
        return line

    def clear(self) -> None:
        """Connected again: the next error is new."""
        self._last = None
