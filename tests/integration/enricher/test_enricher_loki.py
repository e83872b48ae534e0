"""Log evidence from a Loki that speaks the real API, including its failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from schemas import Alert, RawAlert
from services.enricher import EnricherSettings, make_enricher
from services.runtime import load
from tests.fakes.loki import FakeLoki, LogLine

STARTS_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
STREAM = {"host": "web-1", "service_name": "checkout"}


def lines_around_start() -> list[LogLine]:
    base = STARTS_AT.timestamp()
    lines = [
        LogLine(STREAM, base - 600 + i * 3, f'level=info msg="request served" duration={i}ms')
        for i in range(200)
    ]
    lines += [
        LogLine(STREAM, base + i * 5, f'level=error msg="query failed" err="too many clients" id={i}')
        for i in range(20)
    ]
    lines += [LogLine(STREAM, base + 30, 'level=warn msg="slow acquire from connection pool" waited=2100ms')]
    lines += [LogLine({"host": "web-2"}, base + 40, 'level=error msg="other host"')]
    return lines


def raw_alert(labels: dict[str, str] | None = None) -> RawAlert:
    alert = Alert(
        status="firing",
        labels=labels or {"alertname": "HighErrorRate", "instance": "web-1:9100", "service": "checkout"},
        starts_at=STARTS_AT,
    )
    return RawAlert(id="a1", alert=alert, received_at=STARTS_AT)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def settings(loki: FakeLoki, **overrides: str) -> EnricherSettings:
    env = {"LOKI_URL": loki.url, "QUERY_TIMEOUT_SECONDS": "0.5", "ENRICHMENT_DEADLINE_SECONDS": "3"}
    return load(EnricherSettings, {**env, **overrides})


async def test_error_and_warning_lines_become_templates_and_the_alert_moves_on(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        enriched = await make_enricher(settings(loki), session).handle(raw_alert())
    logs = enriched.evidence.logs
    assert logs is not None
    assert logs.query.startswith('{host="web-1", service_name="checkout"} |~ `(?i)')
    assert logs.lines == 21
    assert [(t.severity, t.count) for t in logs.templates] == [("error", 20), ("warning", 1)]
    assert logs.templates[0].template == 'level=error msg="query failed" err="too many clients" id=<n>'
    assert enriched.id == "a1"
    assert enriched.alert == raw_alert().alert
    # Prometheus was not configured: said so, not failed.
    assert [(e.source, e.reason) for e in enriched.evidence.errors] == [
        ("prometheus", "PROMETHEUS_URL is not set")
    ]


async def test_without_problem_lines_the_seconds_before_the_alert_are_read_unfiltered(
    session: aiohttp.ClientSession,
) -> None:
    quiet = [line for line in lines_around_start() if "level=info" in line.line]
    async with FakeLoki(quiet) as loki:
        enriched = await make_enricher(settings(loki, LOG_FALLBACK_SECONDS="30"), session).handle(raw_alert())
        queries = [request.params["query"] for request in loki.requests]
    logs = enriched.evidence.logs
    assert logs is not None
    assert logs.query == '{host="web-1", service_name="checkout"}'
    assert queries[1] == logs.query
    assert logs.lines == 10  # one line every 3 s in the 30 s before the start
    assert logs.templates[0].template == 'level=info msg="request served" duration=<n>'


async def test_tenant_auth_and_the_line_limit_are_sent(session: aiohttp.ClientSession) -> None:
    overrides = {"LOKI_TENANT": "team-a", "LOKI_BEARER_TOKEN": "s3cret-token", "MAX_LOG_LINES": "5"}
    async with FakeLoki(lines_around_start()) as loki:
        enriched = await make_enricher(settings(loki, **overrides), session).handle(raw_alert())
        [request] = loki.requests
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.params["limit"] == "5"
    assert enriched.evidence.logs is not None
    assert enriched.evidence.logs.lines == 5


@pytest.mark.parametrize("failure", ["rate_limited", "server_error", "timeout"])
async def test_a_transient_failure_is_retried(session: aiohttp.ClientSession, failure: str) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        loki.fail_next(failure)  # type: ignore[arg-type]
        enriched = await make_enricher(settings(loki), session).handle(raw_alert())
        attempts = len(loki.requests)
    assert attempts == 2
    assert enriched.evidence.logs is not None
    assert enriched.evidence.logs.lines == 21
    assert [e.source for e in enriched.evidence.errors] == ["prometheus"]


async def test_a_bad_query_is_not_retried_and_is_recorded_with_the_query(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        loki.fail_next("bad_query")
        enriched = await make_enricher(settings(loki), session).handle(raw_alert())
        attempts = len(loki.requests)
    assert attempts == 1
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert error.reason.startswith("HTTP 400: parse error at line 1")
    assert error.query.startswith('{host="web-1"')
    assert enriched.evidence.logs is None


async def test_a_loki_that_never_answers_costs_at_most_the_deadline(session: aiohttp.ClientSession) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        loki.fail_next("timeout", "timeout", "timeout", "timeout")
        began = time.monotonic()
        enriched = await make_enricher(
            settings(
                loki, QUERY_TIMEOUT_SECONDS="0.3", ENRICHMENT_DEADLINE_SECONDS="1", LOKI_PASSWORD="pw-123"
            ),
            session,
        ).handle(raw_alert())
        took = time.monotonic() - began
    assert took < 2.0
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert "timed out" in error.reason or "deadline" in error.reason
    assert "pw-123" not in repr(enriched)


async def test_an_alert_without_mapped_labels_says_why_there_are_no_logs(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        enriched = await make_enricher(settings(loki), session).handle(raw_alert({"alertname": "Watchdog"}))
        assert loki.requests == []
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert "none of the labels mapped to log streams" in error.reason


async def test_loki_down_is_recorded_and_the_alert_still_moves_on(session: aiohttp.ClientSession) -> None:
    async with FakeLoki() as loki:
        url = loki.url
    dead = load(
        EnricherSettings,
        {"LOKI_URL": url, "QUERY_TIMEOUT_SECONDS": "0.5", "ENRICHMENT_DEADLINE_SECONDS": "2"},
    )
    enriched = await make_enricher(dead, session).handle(raw_alert())
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert error.reason.startswith("unreachable")
