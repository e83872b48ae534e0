"""What a NATS server refusing our credentials looks like, and what to tell the person: one place for
the services' connection (``runtime``) and ``aiops status``, which must not import the runtime.

Only nats-py's error classes are imported here: ``aiops status`` answers in a fraction of a second.
"""

from __future__ import annotations

from nats.errors import AuthorizationError

CREDENTIALS_HINT = "check the user and password in NATS_URL, NATS_TOKEN or NATS_CREDS"
REFUSED = f"refused our credentials (Authorization Violation): {CREDENTIALS_HINT}"


def refused_credentials(exc: BaseException) -> bool:
    """The server refused the user and password, token or credentials we gave it."""
    # nats-py raises a bare Error with the server's -ERR text while connecting, and an
    # AuthorizationError once connected.
    return isinstance(exc, AuthorizationError) or "authorization violation" in str(exc).lower()
