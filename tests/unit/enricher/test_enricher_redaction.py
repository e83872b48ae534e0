"""What an enricher without sources publishes: its not-configured errors, redacted like any evidence
(they are redacted once at start-up rather than per alert, so the result must be the same)."""

from __future__ import annotations

import aiohttp

import schemas
from services.enricher import EnricherSettings, make_enricher
from services.ingest import parse_webhook
from services.privacy import configured_redactor, redact_value
from services.runtime import load
from tests.support.webhooks import webhook


async def enriched_without_sources(redact_patterns: str) -> tuple[schemas.EnrichedAlert, schemas.Evidence]:
    """One ingest-redacted alert as published, and its evidence as ``enrich`` found it."""
    [raw, *_] = parse_webhook(webhook("redaction", 0))
    async with aiohttp.ClientSession() as session:
        enricher = make_enricher(load(EnricherSettings, {"REDACT_PATTERNS": redact_patterns}), session)
        assert not enricher.has_sources
        return await enricher.handle(raw), await enricher.enrich(raw.alert)


async def test_not_configured_errors_are_published_redacted_when_a_pattern_matches_them() -> None:
    published, found = await enriched_without_sources(r"(PROMETHEUS)_URL")
    reasons = {error.source: error.reason for error in published.evidence.errors}
    assert reasons["prometheus"] == "<secret:site>_URL is not set"
    assert reasons["loki"] == "LOKI_URL is not set"
    # Exactly what redacting the whole evidence per alert gave.
    assert published.evidence.errors == redact_value(found, configured_redactor(r"(PROMETHEUS)_URL")).errors


async def test_not_configured_errors_are_published_as_found_when_nothing_matches() -> None:
    published, found = await enriched_without_sources("")
    assert [error.reason for error in published.evidence.errors] == [
        "PROMETHEUS_URL is not set",
        "LOKI_URL is not set",
    ]
    assert published.evidence.errors == found.errors
