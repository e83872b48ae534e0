"""What ingest refuses, and how the sender hears it: the HTTP status below and ``{"error": reason}``.

Refused                   a request ingest does not serve; nothing of it is stored (aiohttp's own
│                         answers, 404 and 405, are translated to it at the boundary)
├── BadRequest            400: the body is not what the endpoint accepts (or ``wait`` is not a number)
├── Unauthorized          401 with ``WWW-Authenticate``: credentials are set and these are missing or wrong
├── Forbidden             403: ``/analyze`` is disabled (open to anyone, see the analyze guard)
├── RequestTimeout        408: the body did not arrive within INGEST_BODY_TIMEOUT_SECONDS
├── TooLarge              413: the body is larger than INGEST_MAX_BODY_BYTES
├── AlertTooLarge         413: one alert, as its message, would take more than half of the NATS
│                         server's max_payload, the rest being what later stages add to it
├── UnsupportedMediaType  415: the body is not declared as JSON
├── TooManyRequests       429 with ``Retry-After``: this client spent its ``/analyze`` budget
└── Unavailable           503: JetStream did not acknowledge in time; Alertmanager retries, nothing is lost

Every ``reason`` is safe to show the sender and to log: it never holds a credential, and what it
quotes from a body has its secrets redacted.
"""

from __future__ import annotations

import math

from services.privacy import redact


class Refused(Exception):
    """A request answered with ``status`` and ``{"error": reason}`` (plus ``headers``)."""

    status = 400

    def __init__(
        self, reason: str, *, status: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status or self.status
        self.headers = headers or {}


class BadRequest(Refused):
    """The body is not what the endpoint accepts; whatever ``reason`` quotes from it is redacted."""

    def __init__(self, reason: str) -> None:
        super().__init__(redact(reason))


class Unauthorized(Refused):
    status = 401

    def __init__(self) -> None:
        super().__init__("missing or wrong credentials", headers={"WWW-Authenticate": 'Bearer realm="aiops"'})


class Forbidden(Refused):
    status = 403


class RequestTimeout(Refused):
    status = 408


class TooLarge(Refused):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")


class AlertTooLarge(Refused):
    status = 413

    def __init__(self, where: str, size: int, limit: int) -> None:
        super().__init__(
            f"{where} is {size:,} bytes as a message, over the {limit:,} an alert may take: half of "
            "the NATS server's max_payload, the other half being room for its evidence and analysis"
        )


class UnsupportedMediaType(Refused):
    status = 415


class TooManyRequests(Refused):
    status = 429

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"too many /analyze calls from this client: retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


class Unavailable(Refused):
    """JetStream did not acknowledge in time; the sender should retry."""

    status = 503
