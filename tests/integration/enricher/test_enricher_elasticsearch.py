"""Log evidence from an Elasticsearch/OpenSearch that speaks the real ``_search`` API, failures included."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from loguru import logger

from schemas import Alert, EnrichedAlert, RawAlert, SourceErrorKind
from services.analyst import RulesAnalyst
from services.enricher import EnricherSettings, make_enricher
from services.runtime import load
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.loki import FakeLoki, LogLine

STARTS_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BASE = STARTS_AT.timestamp()
POD = "api-7d9c5b6f4-h2x8k"
# kube-state-metrics' labels: the pod, and the exporter's own IP as instance.
KSM_LABELS = {
    "alertname": "KubePodCrashLooping",
    "instance": "10.42.17.203:8080",
    "job": "kube-state-metrics",
    "namespace": "shop",
    "pod": POD,
    "container": "api",
}


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def doc(seconds: float, message: str, pod: str = POD, level: str | None = None) -> dict[str, Any]:
    """A document as Filebeat writes it (ECS, nested objects)."""
    document: dict[str, Any] = {
        "@timestamp": iso(seconds),
        "message": message,
        "kubernetes": {"namespace": "shop", "pod": {"name": pod}, "container": {"name": "api"}},
        "host": {"name": "node-3"},
    }
    if level:
        document["log"] = {"level": level}
    return document


def documents() -> list[dict[str, Any]]:
    found = [doc(BASE - 600 + i * 3, f"request served in {i}ms", level="info") for i in range(100)]
    found += [
        doc(BASE + i * 5, f"query failed: too many clients (conn {i})", level="error") for i in range(20)
    ]
    found += [doc(BASE + 30, "slow acquire from connection pool waited=2100ms", level="warn")]
    found += [doc(BASE + 40, "panic in the other pod", pod="worker-0")]
    found += [doc(BASE - 7200, "error long before the window")]
    return found


def raw_alert(labels: dict[str, str] | None = None) -> RawAlert:
    alert = Alert(status="firing", labels=labels or KSM_LABELS, starts_at=STARTS_AT)
    return RawAlert(id="a1", alert=alert, received_at=STARTS_AT)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def settings(es: FakeElasticsearch, **overrides: str) -> EnricherSettings:
    env = {
        "ELASTICSEARCH_URL": es.url,
        "QUERY_TIMEOUT_SECONDS": "2",
        # Generous: a shared CI machine must not cut a busy window short; the deadline tests set their own.
        "ENRICHMENT_DEADLINE_SECONDS": "10",
        "QUERY_CACHE_SECONDS": "0",
    }
    return load(EnricherSettings, {**env, **overrides})


async def enrich(
    es: FakeElasticsearch, session: aiohttp.ClientSession, labels: dict[str, str] | None = None, /, **env: str
) -> EnrichedAlert:
    return await make_enricher(settings(es, **env), session).handle(raw_alert(labels))


def es_errors(enriched: EnrichedAlert) -> list[tuple[SourceErrorKind, str]]:
    return [(e.kind, e.reason) for e in enriched.evidence.errors if e.source == "elasticsearch"]


async def test_the_pods_lines_in_the_window_become_templates(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app-2026": documents()}) as es:
        enriched = await enrich(es, session)
    logs = enriched.evidence.logs
    assert logs is not None, enriched.evidence.errors
    [source] = logs.sources
    assert (source.name, source.backend) == ("workload", "elasticsearch")
    assert source.selector == 'kubernetes.namespace:"shop" AND kubernetes.pod.name:"api-7d9c5b6f4-h2x8k"'
    assert logs.lines == 121  # the other pod and the line before the window are not the alert's
    assert [(t.severity, t.count) for t in logs.templates][:2] == [("error", 20), ("warning", 1)]
    # The level field is shown where the message lacks it, so the templates know the line's severity.
    assert logs.templates[0].sample.startswith("ERROR query failed: too many clients")
    [request] = es.requests
    assert request.path == "/logs-*/_search"
    assert request.body["sort"] == [{"@timestamp": {"order": "asc"}}]
    assert request.body["size"] == 500
    # Metrics and Loki were not configured: said so; Elasticsearch said nothing went wrong.
    assert [(e.source, e.kind) for e in enriched.evidence.errors] == [
        ("prometheus", SourceErrorKind.NOT_CONFIGURED),
        ("loki", SourceErrorKind.NOT_CONFIGURED),
    ]


async def test_loki_and_elasticsearch_lines_are_one_log_evidence(session: aiohttp.ClientSession) -> None:
    stream = {"namespace": "shop", "pod": POD}
    lines = [LogLine(stream, BASE + 12, 'level=error msg="upstream reset by peer" host=db-0')]
    async with FakeElasticsearch({"logs-app": documents()}) as es, FakeLoki(lines) as loki:
        enriched = await enrich(es, session, LOKI_URL=loki.url, LOKI_EVENTS_SELECTOR="off")
    logs = enriched.evidence.logs
    assert logs is not None
    assert [(s.backend, s.lines) for s in logs.sources] == [("loki", 1), ("elasticsearch", 121)]
    assert logs.lines == 122
    samples = [t.sample for t in logs.templates]
    assert any("upstream reset by peer" in s for s in samples)
    assert any("too many clients" in s for s in samples)


async def test_the_most_specific_identity_with_lines_wins(session: aiohttp.ClientSession) -> None:
    # The pod's lines are not indexed (another shipper); its container's are, under another pod name.
    others = [doc(BASE + i, f"error talking to db ({i})", pod="api-0") for i in range(3)]
    async with FakeElasticsearch({"logs-app": others}) as es:
        enriched = await enrich(es, session)
    logs = enriched.evidence.logs
    assert logs is not None
    [source] = logs.sources
    assert source.selector == 'kubernetes.namespace:"shop" AND kubernetes.container.name:"api"'
    assert source.tried == ['kubernetes.namespace:"shop" AND kubernetes.pod.name:"api-7d9c5b6f4-h2x8k"']


async def test_a_busy_window_keeps_the_first_problem_and_what_led_to_it(
    session: aiohttp.ClientSession,
) -> None:
    busy = [doc(BASE - 800 + i * 0.5, f"request served in {i}ms") for i in range(400)]
    busy += [doc(BASE - 300, "Using staging endpoints for the database")]
    busy += [doc(BASE - 299 + i * 0.1, f"connection refused to db-staging (attempt {i})") for i in range(300)]
    async with FakeElasticsearch({"logs-app": busy}) as es:
        enriched = await enrich(es, session, MAX_LOG_LINES="100")
    logs = enriched.evidence.logs
    assert logs is not None
    samples = [t.sample for t in logs.templates]
    assert samples[0].startswith("connection refused to db-staging (attempt 0)")
    assert "Using staging endpoints for the database" in samples[1:6]
    problem_queries = [r.body for r in es.requests if "should" in str(r.body["query"])]
    assert [q["sort"][0]["@timestamp"]["order"] for q in problem_queries] == ["asc", "desc"]


async def test_basic_auth_and_api_keys_are_sent_and_never_shown(session: aiohttp.ClientSession) -> None:
    logged: list[str] = []
    sink = logger.add(logged.append, level="DEBUG", backtrace=True, diagnose=True)
    try:
        async with FakeElasticsearch({"logs-app": documents()}, username="elastic", password="pw-9x") as es:
            good = {"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "pw-9x"}
            enriched = await enrich(es, session, **good)
            assert enriched.evidence.logs is not None
            bad = {"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "nope-77"}
            wrong = await enrich(es, session, **bad)
            attempts = len(es.requests)
        async with FakeElasticsearch({"logs-app": documents()}, api_key="a2V5OnNlY3JldA==") as es:
            keyed = await enrich(es, session, ELASTICSEARCH_API_KEY="a2V5OnNlY3JldA==")
            headers = {r.headers["Authorization"] for r in es.requests}
    finally:
        logger.remove(sink)
    assert attempts == 2  # a 401 is not retried
    [(kind, reason)] = es_errors(wrong)
    assert kind is SourceErrorKind.REJECTED
    assert reason.startswith("HTTP 401: security_exception: unable to authenticate user")
    assert headers == {"ApiKey a2V5OnNlY3JldA=="}
    assert keyed.evidence.logs is not None
    shown = "".join(logged) + repr(enriched) + repr(wrong) + repr(keyed)
    for secret in ("pw-9x", "nope-77", "a2V5OnNlY3JldA=="):
        assert secret not in shown


async def test_an_unknown_index_is_rejected_with_the_servers_answer(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app": documents()}) as es:
        enriched = await enrich(es, session, ELASTICSEARCH_INDEX="applogs")
    [(kind, reason)] = es_errors(enriched)
    assert kind is SourceErrorKind.REJECTED
    assert reason == "HTTP 404: index_not_found_exception: no such index [applogs]"
    assert enriched.evidence.logs is None


async def test_a_429_waits_as_long_as_retry_after_says(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app": documents()}, retry_after="0.6") as es:
        es.fail_next("rate_limited")
        enriched = await enrich(es, session)
        first, second = es.requests
    assert second.at - first.at >= 0.55  # backoff alone would have retried within 0.4 s
    assert enriched.evidence.logs is not None
    assert es_errors(enriched) == []


@pytest.mark.parametrize(
    ("failure", "kind"),
    [("rate_limited", SourceErrorKind.RATE_LIMITED), ("server_error", SourceErrorKind.UNAVAILABLE)],
)
async def test_a_failure_that_lasts_is_told_by_its_kind(
    session: aiohttp.ClientSession, failure: str, kind: SourceErrorKind
) -> None:
    async with FakeElasticsearch({"logs-app": documents()}, retry_after="0") as es:
        es.fail_next(failure, failure, failure)  # type: ignore[arg-type]
        enriched = await enrich(es, session)
        attempts = len(es.requests)
    assert attempts == 3  # QUERY_ATTEMPTS
    [(found, _)] = es_errors(enriched)
    assert found is kind


async def test_a_bad_query_is_not_retried(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app": documents()}) as es:
        es.fail_next("bad_query")
        enriched = await enrich(es, session)
        attempts = len(es.requests)
    assert attempts == 1
    [error] = [e for e in enriched.evidence.errors if e.source == "elasticsearch"]
    assert (error.kind, error.reason) == (
        SourceErrorKind.BAD_QUERY,
        "HTTP 400: parsing_exception: unknown query [nope]",
    )
    assert '"range"' in error.query


async def test_a_slow_cluster_costs_at_most_the_deadline(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app": documents()}, delay=5.0) as es:
        began = time.monotonic()
        enriched = await enrich(es, session, QUERY_TIMEOUT_SECONDS="0.3", ENRICHMENT_DEADLINE_SECONDS="1")
        took = time.monotonic() - began
    assert took < 2.0
    [(kind, reason)] = es_errors(enriched)
    assert kind is SourceErrorKind.TIMEOUT
    assert "timed out" in reason or "deadline" in reason


async def test_an_alert_naming_nothing_mapped_asks_nothing(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch({"logs-app": documents()}) as es:
        enriched = await enrich(es, session, {"alertname": "Watchdog"})
        asked = list(es.requests)
    assert asked == []
    [(kind, reason)] = es_errors(enriched)
    assert kind is SourceErrorKind.NO_MATCH
    assert "ELASTICSEARCH_LABEL_MAP" in reason


async def test_elasticsearch_down_is_recorded_and_the_alert_moves_on(session: aiohttp.ClientSession) -> None:
    async with FakeElasticsearch() as es:
        url = es.url
    enriched = await make_enricher(
        load(EnricherSettings, {"ELASTICSEARCH_URL": url, "ENRICHMENT_DEADLINE_SECONDS": "2"}), session
    ).handle(raw_alert())
    [(kind, reason)] = es_errors(enriched)
    assert kind is SourceErrorKind.UNREACHABLE
    assert reason.startswith("unreachable")


async def test_the_rules_analyst_reads_the_cause_from_elasticsearch_lines(
    session: aiohttp.ClientSession,
) -> None:
    crash = [doc(BASE - 60, "Starting payments worker v2.3.1", level="info")]
    crash += [
        doc(
            BASE - 30 + i,
            'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
            level="error",
        )
        for i in range(5)
    ]
    async with FakeElasticsearch({"logs-app": crash}) as es:
        enriched = await enrich(es, session)
    analysis = RulesAnalyst().analyze(enriched)
    assert analysis.category == "memory_pressure"
    assert any("OutOfMemoryError" in item for item in analysis.evidence)
