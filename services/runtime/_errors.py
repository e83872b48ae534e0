"""What a handler may raise, and what the runtime does with it.

Exception                 anything unexpected: transient, nak with a growing delay
├── RetryLater            transient, with the delay the handler knows (e.g. Retry-After)
├── Reject                poison: dead letter now, retrying cannot help
│   └── MessageTooLarge   a result larger than the NATS server takes (its max_payload); raised by
│                         the publisher before sending, since the server would cut the connection
└── ConfigError           a setting is missing or malformed, or names what cannot work (a port
                          taken): the service exits with CONFIG_ERROR_EXIT, one line, no traceback

Stopped (not a handler's): SIGTERM arrived before the service was up, e.g. while NATS did not answer
or could not set up the stream yet; the process exits 0 without a traceback.
"""

from __future__ import annotations


class RetryLater(Exception):
    """The work may succeed later; redeliver after ``delay`` seconds (None: runtime backoff)."""

    def __init__(
        self, reason: str, *, delay: float | None = None, error_type: str = "retry", expected: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.error_type = error_type
        # Work planned for later (a review not due yet), no failure: logged at debug, not as a warning.
        self.expected = expected


class Reject(Exception):
    """The message can never be processed; it goes to ``alerts.dead`` with ``reason``."""

    def __init__(self, reason: str, *, error_type: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type


class MessageTooLarge(Reject):
    """A message the NATS server would refuse: with its headers, over the server's ``max_payload``."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the message is {size:,} bytes with its headers; "
            f"the NATS server takes at most {limit:,} (max_payload)",
            error_type="too_large",
        )
        self.size = size
        self.limit = limit


# The exit code of a service whose settings cannot work: ``aiops up`` gives up on a service that exits
# with it on three starts (``services/cli/_restarts.py``) instead of restarting it forever.
CONFIG_ERROR_EXIT = 2


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable, never its value."""


class Stopped(Exception):
    """SIGTERM or SIGINT came before the service was running; nothing to shut down but the process."""
