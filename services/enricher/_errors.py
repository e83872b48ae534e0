"""Why a source gave no evidence. None of these ever fails the message.

SourceError               a source could not contribute; becomes an EnrichmentError with its kind
├── TransientSourceError  timeout, refused connection, 429, 5xx: retried within the deadline
└── BadQuery              the backend rejected the query (400/422): retrying cannot help

Each carries a ``SourceErrorKind`` (schemas), the bounded reason metrics and the analyst read;
``reason`` is the human text and is never parsed.

PackError                 a query pack file cannot be used: the service refuses to start
                          (ConfigError naming ENRICHMENT_PACKS_DIR, the file and the problem)
"""

from __future__ import annotations

from schemas import EnrichmentError, SourceErrorKind


class SourceError(Exception):
    """A source (``prometheus``, ``loki``, ...) could not contribute; ``reason`` never holds a secret."""

    default_kind = SourceErrorKind.UNAVAILABLE

    def __init__(
        self, source: str, reason: str, query: str = "", kind: SourceErrorKind | None = None
    ) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.query = query
        self.kind = kind or self.default_kind

    @property
    def error_type(self) -> str:
        """The metric label: the kind's value."""
        return self.kind.value

    def to_evidence(self) -> EnrichmentError:
        return EnrichmentError(source=self.source, reason=self.reason, query=self.query, kind=self.kind)


class TransientSourceError(SourceError):
    """Worth another attempt; ``retry_after`` is the backend's own wait (a 429's Retry-After), if any."""

    def __init__(
        self,
        source: str,
        reason: str,
        query: str = "",
        kind: SourceErrorKind | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(source, reason, query, kind)
        self.retry_after = retry_after


class BadQuery(SourceError):
    default_kind = SourceErrorKind.BAD_QUERY


class PackError(ValueError):
    """A pack file that cannot be used; the message names the file and the problem."""
