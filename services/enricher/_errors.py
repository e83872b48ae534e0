"""Why a source gave no evidence. None of these ever fails the message.

SourceError               a backend could not answer; becomes an EnrichmentError
├── TransientSourceError  timeout, refused connection, 429, 5xx: retried within the deadline
└── BadQuery              the backend rejected the query (400/422): retrying cannot help
"""

from __future__ import annotations

from schemas import EnrichmentError


class SourceError(Exception):
    """A source (``prometheus``, ``loki``) could not contribute; ``reason`` never holds a secret."""

    def __init__(self, source: str, reason: str, query: str = "") -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.query = query

    @property
    def error_type(self) -> str:
        return "unavailable"

    def to_evidence(self) -> EnrichmentError:
        return EnrichmentError(source=self.source, reason=self.reason, query=self.query)


class TransientSourceError(SourceError):
    @property
    def error_type(self) -> str:
        return "transient"


class BadQuery(SourceError):
    @property
    def error_type(self) -> str:
        return "bad_query"
