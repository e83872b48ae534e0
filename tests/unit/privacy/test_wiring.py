"""Where redaction sits: ingest before alerts.raw, the enricher before alerts.enriched, REDACT_PATTERNS read
at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest

import schemas
from services.enricher import EnricherSettings, make_enricher
from services.ingest import BadRequest, parse_manual, parse_webhook
from services.runtime import ConfigError, load

DSN = "postgres://payments:Maple774-OcAa2@pg-1:5432/pay"


def webhook(**fields: object) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "PaymentsDbErrors", "service": "payments", "api_key": "9f8e7d6c5b4a39281706"},
        "annotations": {"description": f"connect to {DSN} failed"},
        "startsAt": "2026-01-01T00:00:00Z",
    }
    return orjson.dumps({"version": "4", "status": "firing", "alerts": [alert], **fields})


def test_ingest_redacts_labels_and_annotations_and_keeps_the_episode_id() -> None:
    [message] = parse_webhook(webhook(commonAnnotations={}, externalURL="http://am:9093"))
    assert message.alert.annotations["description"] == (
        "connect to postgres://payments:<secret:password>@pg-1:5432/pay failed"
    )
    assert message.alert.labels["api_key"] == "<secret:api-key>"
    assert message.redacted, "the enricher is told it need not redact the alert again"
    original = schemas.decode(webhook(), schemas.AlertmanagerWebhook).alerts[0]
    assert message.id == schemas.alert_id(original)
    assert message.alert.fingerprint == schemas.label_fingerprint(original.labels)


def test_a_manual_alert_is_redacted_too() -> None:
    body = orjson.dumps({"labels": {"alertname": "Slow"}, "annotations": {"note": f"dsn={DSN}"}})
    message = parse_manual(body)
    assert "Maple774" not in schemas.encode(message).decode()
    assert message.redacted


def test_a_rejection_does_not_echo_a_secret() -> None:
    with pytest.raises(BadRequest) as rejected:
        parse_webhook(webhook(version="password=Maple774-OcAa2"))
    assert "Maple774" not in rejected.value.reason
    assert "<secret:password>" in rejected.value.reason


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_the_enricher_redacts_what_it_publishes_even_without_sources(
    session: aiohttp.ClientSession,
) -> None:
    enricher = make_enricher(load(EnricherSettings, {"REDACT_PATTERNS": r"acct-(\d{8})"}), session)
    alert = schemas.Alert(
        status="firing",
        labels={"alertname": "PaymentsDbErrors", "account": "acct-12345678"},
        annotations={"description": f"connect to {DSN} failed"},
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    raw = schemas.RawAlert(id="a1", alert=alert, received_at=alert.starts_at)
    enriched = await enricher.handle(raw)
    text = schemas.encode(enriched).decode()
    assert "Maple774" not in text
    assert "12345678" not in text
    assert enriched.alert.labels["account"] == "acct-<secret:site>"


async def test_the_enricher_leaves_an_alert_ingest_redacted_as_it_came(
    session: aiohttp.ClientSession,
) -> None:
    """Ingest already redacted it (with the same REDACT_PATTERNS): once is enough on the hot path."""
    enricher = make_enricher(load(EnricherSettings, {"REDACT_PATTERNS": r"acct-(\d{8})"}), session)
    [raw] = parse_webhook(webhook())
    assert raw.redacted
    enriched = await enricher.handle(raw)
    assert enriched.alert is raw.alert
    assert enriched.group is raw.group


async def test_a_bad_redact_pattern_stops_the_start_naming_the_setting(
    session: aiohttp.ClientSession,
) -> None:
    with pytest.raises(ConfigError, match="REDACT_PATTERNS: 'acct-\\(' is not a regular expression"):
        make_enricher(load(EnricherSettings, {"REDACT_PATTERNS": "acct-("}), session)
