"""The source registry: every source documented, named once, its errors told by kind."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

import schemas
from schemas import Alert, EnrichmentError, Evidence, RawAlert, SourceErrorKind
from services.enricher import EnricherSettings
from services.enricher._backend import status_error
from services.enricher._build import count_errors
from services.enricher._errors import TransientSourceError
from services.enricher._sources import SOURCES

DOCS = Path(__file__).resolve().parents[3] / "docs" / "enrichment.md"


def headings(markdown: str) -> list[str]:
    """Markdown headings, not the comments of shell snippets in fenced blocks."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            found.append(line)
    return found


def test_every_registered_source_has_a_section_in_the_enrichment_docs() -> None:
    titles = headings(DOCS.read_text())
    for source in SOURCES:
        assert any(re.search(rf"\b{source.name}\b", h, re.IGNORECASE) for h in titles), (
            f"docs/enrichment.md has no heading naming the {source.name} source"
        )


def test_sources_have_one_name_each_and_name_a_real_setting() -> None:
    names = [source.name for source in SOURCES]
    assert len(names) == len(set(names))
    fields = {field.name for field in msgspec.structs.fields(EnricherSettings)}
    for source in SOURCES:
        assert source.setting.lower() in fields, source.setting
        assert not source.configured(source.settings_type()), f"{source.name} is on without its settings"


@pytest.mark.parametrize(
    ("status", "kind", "retried"),
    [
        (400, SourceErrorKind.BAD_QUERY, False),
        (422, SourceErrorKind.BAD_QUERY, False),
        (401, SourceErrorKind.REJECTED, False),
        (403, SourceErrorKind.REJECTED, False),
        (404, SourceErrorKind.REJECTED, False),
        (429, SourceErrorKind.RATE_LIMITED, True),
        (500, SourceErrorKind.UNAVAILABLE, True),
        (503, SourceErrorKind.UNAVAILABLE, True),
    ],
)
def test_an_answer_is_classified_by_its_status(status: int, kind: SourceErrorKind, retried: bool) -> None:
    error = status_error("loki", status, "the answer", '{job="x"}', wait=2.0)
    assert error.kind is kind
    assert isinstance(error, TransientSourceError) is retried
    assert error.to_evidence() == EnrichmentError(
        source="loki", reason=f"HTTP {status}: the answer", query='{job="x"}', kind=kind
    )


def test_errors_are_counted_by_their_kind_not_their_wording() -> None:
    registry = CollectorRegistry()
    record = count_errors(registry)
    now = datetime(2026, 5, 14, 10, tzinfo=UTC)
    raw = RawAlert(id="a", alert=Alert(status="firing", labels={}, starts_at=now), received_at=now)
    errors = [
        EnrichmentError(
            source="prometheus", reason="PROMETHEUS_URL is not set", kind=SourceErrorKind.NOT_CONFIGURED
        ),
        EnrichmentError(source="loki", reason="is not set, says the server", kind=SourceErrorKind.REJECTED),
    ]
    record(schemas.enriched(raw, Evidence(errors=errors), now))
    sample = registry.get_sample_value
    labels = {"source": "prometheus", "error_type": "not_configured"}
    assert sample("aiops_enrichment_errors_total", labels) == 1
    assert sample("aiops_enrichment_errors_total", {"source": "loki", "error_type": "rejected"}) == 1


def test_an_error_from_an_older_enricher_reads_as_unavailable() -> None:
    decoded = schemas.decode(b'{"source": "loki", "reason": "HTTP 502"}', EnrichmentError)
    assert decoded.kind is SourceErrorKind.UNAVAILABLE
