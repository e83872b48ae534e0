"""Log evidence from a Loki that speaks the real API, including its failures."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from schemas import Alert, EnrichedAlert, LogEvidence, RawAlert
from services.enricher import EnricherSettings, make_enricher
from services.runtime import load
from tests.fakes.loki import FakeLoki, LogLine

STARTS_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BASE = STARTS_AT.timestamp()
STREAM = {"host": "web-1", "service_name": "checkout"}
POD = {"namespace": "shop", "pod": "api-7d9c5b6f4-h2x8k", "container": "api"}
# What kube-state-metrics puts on a pod alert: the pod, and the exporter's own IP as instance.
KSM_LABELS = {
    "alertname": "KubePodCrashLooping",
    "instance": "10.42.17.203:8080",
    "job": "kube-state-metrics",
    **POD,
}


def lines_around_start() -> list[LogLine]:
    lines = [
        LogLine(STREAM, BASE - 600 + i * 3, f'level=info msg="request served" duration={i}ms')
        for i in range(200)
    ]
    lines += [
        LogLine(STREAM, BASE + i * 5, f'level=error msg="query failed" err="too many clients" id={i}')
        for i in range(20)
    ]
    lines += [LogLine(STREAM, BASE + 30, 'level=warn msg="slow acquire from connection pool" waited=2100ms')]
    lines += [LogLine({"host": "web-2"}, BASE + 40, 'level=error msg="other host"')]
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


async def enrich(
    lines: list[LogLine], session: aiohttp.ClientSession, labels: dict[str, str] | None = None, **env: str
) -> tuple[EnrichedAlert, FakeLoki]:
    async with FakeLoki(lines) as loki:
        enriched = await make_enricher(settings(loki, **env), session).handle(raw_alert(labels))
    return enriched, loki


def texts(logs: LogEvidence | None) -> list[str]:
    assert logs is not None
    return [template.sample for template in logs.templates]


async def test_the_window_becomes_templates_and_the_alert_moves_on(session: aiohttp.ClientSession) -> None:
    enriched, loki = await enrich(lines_around_start(), session)
    logs = enriched.evidence.logs
    assert logs is not None
    [source] = logs.sources
    assert (source.name, source.selector) == ("workload", '{service_name="checkout"}')
    assert logs.lines == 221  # the whole window fits MAX_LOG_LINES: read once, oldest first
    assert [r.params["direction"] for r in loki.queries()] == ["forward"]
    assert [(t.severity, t.count) for t in logs.templates][:2] == [("error", 20), ("warning", 1)]
    assert logs.templates[0].template == 'level=error msg="query failed" err="too many clients" id=<n>'
    assert all("other host" not in sample for sample in texts(logs))
    assert enriched.id == "a1"
    assert enriched.alert == raw_alert().alert
    # Prometheus was not configured: said so, not failed.
    assert [(e.source, e.reason) for e in enriched.evidence.errors] == [
        ("prometheus", "PROMETHEUS_URL is not set")
    ]


async def test_an_alert_with_both_pod_and_instance_gets_the_pods_logs(session: aiohttp.ClientSession) -> None:
    lines = [LogLine(POD, BASE - 30, "panic: runtime error: invalid memory address or nil pointer")]
    enriched, loki = await enrich(lines, session, KSM_LABELS)
    logs = enriched.evidence.logs
    assert logs is not None, enriched.evidence.errors
    assert texts(logs) == ["panic: runtime error: invalid memory address or nil pointer"]
    assert logs.sources[0].selector == '{namespace="shop", pod="api-7d9c5b6f4-h2x8k"}'
    assert logs.sources[0].tried == []
    [series] = loki.queries("/loki/api/v1/series")
    assert '{host="10.42.17.203"}' in series.matches  # asked, as a last resort, in the same request


async def test_a_selector_without_streams_is_relaxed_to_the_next_identity(
    session: aiohttp.ClientSession,
) -> None:
    # This shipper labels by container and namespace only: no pod label on any stream.
    stream = {"namespace": "shop", "container": "api"}
    lines = [LogLine(stream, BASE - 30, "FATAL: could not open config file /etc/api/app.yaml")]
    enriched, _ = await enrich(lines, session, KSM_LABELS)
    logs = enriched.evidence.logs
    assert logs is not None
    assert logs.sources[0].selector == '{container="api", namespace="shop"}'
    assert logs.sources[0].tried[0] == '{namespace="shop", pod="api-7d9c5b6f4-h2x8k"}'
    assert texts(logs) == ["FATAL: could not open config file /etc/api/app.yaml"]


async def test_when_no_stream_matches_the_error_names_what_was_tried(session: aiohttp.ClientSession) -> None:
    enriched, loki = await enrich(lines_around_start(), session, KSM_LABELS, LOKI_EVENTS_SELECTOR="off")
    assert enriched.evidence.logs is None
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert error.reason.startswith('no log stream in the window matches {namespace="shop", pod=')
    assert loki.queries() == []  # one /series request said so; no empty range query


async def test_an_early_warning_survives_a_later_flood(session: aiohttp.ClientSession) -> None:
    stream = {"namespace": "app", "pod": "api-0"}
    lines = [LogLine(stream, BASE - 800 + i, f"[HTTP] 200 GET /api/users/{i} (45ms)") for i in range(100)]
    lines += [LogLine(stream, BASE - 600, "[INFO] Reloading configuration...")]
    lines += [LogLine(stream, BASE - 599, "[CONFIG] Database host: db-staging.internal:5432")]
    lines += [LogLine(stream, BASE - 598, "[WARN] Configuration mismatch: Using staging endpoints")]
    lines += [
        LogLine(stream, BASE - 597 + i, f"[ERROR] Database connection failed: Connection refused ({i})")
        for i in range(1000)
    ]
    labels = {"alertname": "HighErrorRate", "namespace": "app", "pod": "api-0"}
    enriched, loki = await enrich(lines, session, labels, MAX_LOG_LINES="50", LOKI_EVENTS_SELECTOR="off")
    samples = texts(enriched.evidence.logs)
    assert "[WARN] Configuration mismatch: Using staging endpoints" in samples
    assert "[CONFIG] Database host: db-staging.internal:5432" in samples[:4]
    flood = [t for t in enriched.evidence.logs.templates if "Connection refused" in t.sample]  # type: ignore[union-attr]
    assert len(flood) == 1
    # Bounded: the oldest 50 lines, then a share of the first and last problems and the lead-up.
    assert sum(int(r.params["limit"]) for r in loki.queries()) <= 100


async def test_a_quiet_cause_line_is_kept_next_to_warning_events_in_the_same_stream(
    session: aiohttp.ClientSession,
) -> None:
    stream = {"namespace": "default", "pod": "worker-747ccfb9db-pd6wz", "container": "worker"}
    event = 'type={} reason={} object=Pod/worker-747ccfb9db-pd6wz source=kubelet msg="{}"'
    lines = []
    for restart in range(6):
        at = BASE - 600 + restart * 60
        lines.append(LogLine(stream, at, event.format("Normal", "Started", "Started container worker")))
        lines.append(LogLine(stream, at + 1, "Environment variable DEPLOY_ENV is undefined"))
        backoff = event.format("Warning", "BackOff", "Back-off restarting failed container")
        lines.append(LogLine(stream, at + 2, backoff))
    labels = {"alertname": "KubePodCrashLooping", **stream}
    enriched, _ = await enrich(lines, session, labels, LOG_CHAR_BUDGET="400")
    samples = texts(enriched.evidence.logs)
    assert samples[:2] == [
        lines[2].line,  # the first problem
        "Environment variable DEPLOY_ENV is undefined",  # and what the container said just before
    ]


def events_stream(namespace: str, pod: str, reason: str, message: str) -> LogLine:
    line = f'name={pod}.17a5f kind=Pod type=Warning reason={reason} msg="{message}"'
    stream = {"job": "loki.source.kubernetes_events", "namespace": namespace}
    return LogLine(stream, BASE - 60, line)


async def test_kubernetes_events_are_read_from_their_own_stream_for_the_alerts_objects(
    session: aiohttp.ClientSession,
) -> None:
    lines = [
        events_stream("shop", "api-7d9c5b6f4-h2x8k", "FailedScheduling", "0/3 nodes: insufficient gpu"),
        events_stream("shop", "api-gateway-5b7c9d8f6-z9y8x", "BackOff", "Back-off restarting failed"),
    ]
    labels = {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "api-7d9c5b6f4-h2x8k"}
    enriched, _ = await enrich(lines, session, labels)
    logs = enriched.evidence.logs
    assert logs is not None
    assert [s.name for s in logs.sources] == ["events"]
    assert texts(logs) == [lines[0].line]  # not the other pod's event
    # The pod has no stream of its own yet (never scheduled): said, not fatal.
    assert any(e.reason.startswith("no log stream in the window") for e in enriched.evidence.errors)
    off, loki = await enrich(lines, session, labels, LOKI_EVENTS_SELECTOR="off")
    assert off.evidence.logs is None
    assert loki.queries() == []


async def test_tenant_auth_and_the_line_limit_are_sent(session: aiohttp.ClientSession) -> None:
    overrides = {"LOKI_TENANT": "team-a", "LOKI_BEARER_TOKEN": "s3cret-token", "MAX_LOG_LINES": "5"}
    enriched, loki = await enrich(lines_around_start(), session, None, **overrides)
    assert {r.headers["X-Scope-OrgID"] for r in loki.requests} == {"team-a"}
    assert {r.headers["Authorization"] for r in loki.requests} == {"Bearer s3cret-token"}
    assert all(int(r.params["limit"]) <= 5 for r in loki.queries())
    assert enriched.evidence.logs is not None
    assert enriched.evidence.logs.lines <= 4 * 5


@pytest.mark.parametrize("failure", ["rate_limited", "server_error", "timeout"])
async def test_a_transient_failure_is_retried(session: aiohttp.ClientSession, failure: str) -> None:
    async with FakeLoki(lines_around_start()) as loki:
        loki.fail_next(failure)  # type: ignore[arg-type]
        enriched = await make_enricher(settings(loki), session).handle(raw_alert())
        paths = [r.path for r in loki.requests]
    assert paths == ["/loki/api/v1/series", "/loki/api/v1/series", "/loki/api/v1/query_range"]
    assert enriched.evidence.logs is not None
    assert enriched.evidence.logs.lines == 221
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
    assert error.query.startswith('{service_name="checkout"}')
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


async def test_an_alert_without_an_identity_says_why_there_are_no_logs(
    session: aiohttp.ClientSession,
) -> None:
    enriched, loki = await enrich(lines_around_start(), session, {"alertname": "Watchdog"})
    assert loki.requests == []
    [error] = [e for e in enriched.evidence.errors if e.source == "loki"]
    assert "no label that names a log stream" in error.reason


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


async def test_a_failed_job_reads_its_pods_logs_and_its_events(session: aiohttp.ClientSession) -> None:
    def pod(name: str) -> dict[str, str]:
        return {"namespace": "default", "pod": name, "container": "checker"}

    events = {"namespace": "default", "job_name": "db-check", "source": "kubernetes-events"}
    failed = "All host(s) tried for db query failed (tried: prod-db:3333)"
    lines = [
        LogLine(pod("db-check-2lhkn"), BASE - 300, failed),
        LogLine(pod("db-check-jzzdd"), BASE - 200, failed),
        LogLine(pod("db-check-backfill-7d9c5b6f4-q4w2x"), BASE - 200, "another job's line"),
        LogLine(
            events, BASE - 100, 'type=Warning reason=BackoffLimitExceeded object=Job/db-check msg="limit"'
        ),
    ]
    labels = {"alertname": "KubeJobFailed", "job": "kube-state-metrics", "namespace": "default"}
    enriched, _ = await enrich(
        lines,
        session,
        {**labels, "job_name": "db-check"},
        LOKI_EVENTS_SELECTOR='{source="kubernetes-events"}',
    )
    logs = enriched.evidence.logs
    assert logs is not None
    assert [s.selector for s in logs.sources] == [
        '{namespace="default", pod=~"db-check-[a-z0-9]{5}"}',
        '{source="kubernetes-events"}',
    ]
    assert sorted(texts(logs)) == sorted([lines[3].line, failed])
    assert logs.lines == 3
