"""Kubernetes events read from an API server that speaks the real API, including its failures."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import msgspec
import pytest
from loguru import logger

from schemas import Alert, EnrichedAlert, RawAlert, SourceErrorKind
from services.analyst import RulesAnalyst
from services.enricher import EnricherSettings, make_enricher
from services.runtime import ConfigError, load
from tests.fakes.kubernetes import FakeKubernetes, KubeEvent
from tests.fakes.loki import FakeLoki, LogLine

STARTS_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BASE = STARTS_AT.timestamp()
POD = "api-7d9c5b6f4-h2x8k"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account-token"
NOT_SCHEDULED = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available."


def raw_alert(labels: dict[str, str]) -> RawAlert:
    alert = Alert(status="firing", labels=labels, starts_at=STARTS_AT)
    return RawAlert(id="a1", alert=alert, received_at=STARTS_AT)


POD_ALERT = {"alertname": "KubePodNotReady", "namespace": "shop", "pod": POD}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def settings(url: str, token_file: Path, **overrides: str) -> EnricherSettings:
    env = {
        "KUBERNETES_API_URL": url,
        "KUBERNETES_TOKEN_FILE": str(token_file),
        "QUERY_TIMEOUT_SECONDS": "0.5",
        "ENRICHMENT_DEADLINE_SECONDS": "4",
    }
    return load(EnricherSettings, {**env, **overrides})


async def enrich(
    kube: FakeKubernetes, session: aiohttp.ClientSession, token_file: Path, labels: dict[str, str], **env: str
) -> EnrichedAlert:
    enricher = make_enricher(settings(kube.url, token_file, **env), session)
    return await enricher.handle(raw_alert(labels))


def samples(enriched: EnrichedAlert) -> list[str]:
    assert enriched.evidence.logs is not None, enriched.evidence.errors
    return [template.sample for template in enriched.evidence.logs.templates]


def kube_errors(enriched: EnrichedAlert) -> list[tuple[SourceErrorKind, str]]:
    return [(e.kind, e.reason) for e in enriched.evidence.errors if e.source == "kubernetes"]


async def test_a_pod_that_cannot_be_scheduled_is_analysed_as_the_scheduling_cause(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    events = [
        KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE - 300, BASE + 60, count=12),
        KubeEvent("shop", "Pod", "api-7d9c5b6f4-q8w7z", "BackOff", "Back-off restarting failed", BASE - 60),
        KubeEvent(
            "shop", "Pod", POD, "Pulled", "Container image already present", BASE - 7200, type="Normal"
        ),
    ]
    async with FakeKubernetes(events, token=TOKEN) as kube:
        enriched = await enrich(kube, session, token_file, POD_ALERT)
    [request] = kube.requests
    assert request.path == "/api/v1/namespaces/shop/events"
    assert request.params["fieldSelector"] == f"involvedObject.kind=Pod,involvedObject.name={POD}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    # Only this pod's event, and not the one two hours before the window.
    assert samples(enriched) == [
        f'name={POD} kind=Pod type=Warning reason=FailedScheduling msg="{NOT_SCHEDULED}"'
    ]
    logs = enriched.evidence.logs
    assert logs is not None
    assert logs.templates[0].count == 12
    [source] = logs.sources
    assert (source.name, source.backend) == ("events", "kubernetes")
    assert kube_errors(enriched) == []
    analysis = RulesAnalyst().analyze(enriched)
    assert analysis.category == "memory_pressure"
    assert "no node has enough unreserved memory" in analysis.root_cause


async def test_a_deployments_pods_events_are_merged_with_their_counts(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    pods = ["api-7d9c5b6f4-h2x8k", "api-7d9c5b6f4-q8w7z", "api-7d9c5b6f4-zz9x2"]
    events = [
        KubeEvent("shop", "Pod", pod, "FailedScheduling", NOT_SCHEDULED, BASE - 100, count=2) for pod in pods
    ]
    events.append(
        KubeEvent("shop", "Pod", "api-gateway-5b7c9d8f6-z9y8x", "OOMKilling", "Memory cap hit", BASE)
    )
    events.append(KubeEvent("web", "Pod", "api-7d9c5b6f4-h2x8k", "Unhealthy", "other namespace", BASE))
    # The namespace is listed page by page: its events do not fit one page of 500.
    events += [
        KubeEvent("shop", "Pod", f"worker-{n}", "Pulled", "image present", BASE, type="Normal")
        for n in range(1200)
    ]
    events.append(
        KubeEvent("shop", "ReplicaSet", "api-7d9c5b6f4", "FailedCreate", "exceeded quota", BASE + 5)
    )
    labels = {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "api"}
    async with FakeKubernetes(events, token=TOKEN) as kube:
        enriched = await enrich(kube, session, token_file, labels)
    assert [r.params.get("continue", "") != "" for r in kube.requests] == [False, True, True]
    assert "fieldSelector" not in kube.requests[0].params
    logs = enriched.evidence.logs
    assert logs is not None
    by_reason = {t.sample.split("reason=")[1].split()[0]: t for t in logs.templates}
    assert sorted(by_reason) == ["FailedCreate", "FailedScheduling"]
    assert by_reason["FailedScheduling"].count == 6
    assert "objects=3" in by_reason["FailedScheduling"].sample


async def test_a_flood_of_normal_events_never_pushes_out_the_problem(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    events = [
        KubeEvent(
            "shop", "Pod", POD, "Pulled", f"Successfully pulled image in {n}ms", BASE + n, type="Normal"
        )
        for n in range(300)
    ]
    events.append(KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE - 500, count=3))
    async with FakeKubernetes(events, token=TOKEN) as kube:
        enriched = await enrich(kube, session, token_file, POD_ALERT, MAX_LOG_LINES="40")
    logs = enriched.evidence.logs
    assert logs is not None
    assert logs.lines == 20  # half of MAX_LOG_LINES, as Loki's events stream reads
    assert "reason=FailedScheduling" in logs.templates[0].sample
    assert logs.templates[0].count == 3


async def test_a_rejected_token_is_reported_by_kind_and_the_other_sources_still_contribute(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    captured: list[str] = []
    sink = logger.add(captured.append, level="DEBUG")
    lines = [LogLine({"namespace": "shop", "pod": POD}, BASE - 30, 'level=error msg="cannot reach db"')]
    try:
        async with FakeKubernetes([], token="another-token") as kube, FakeLoki(lines) as loki:
            enriched = await enrich(
                kube, session, token_file, POD_ALERT, LOKI_URL=loki.url, LOKI_EVENTS_SELECTOR="off"
            )
    finally:
        logger.remove(sink)
    [(kind, reason)] = kube_errors(enriched)
    assert kind == SourceErrorKind.REJECTED
    assert reason.startswith("HTTP 401")
    assert len(kube.requests) == 1  # a 401 is not retried
    assert samples(enriched) == ['level=error msg="cannot reach db"']
    assert TOKEN not in msgspec.json.encode(enriched).decode()
    assert not any(TOKEN in line for line in captured)


async def test_a_namespace_outside_the_role_is_forbidden_with_the_api_servers_words(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    async with FakeKubernetes([], token=TOKEN, allowed_namespaces={"default"}) as kube:
        enriched = await enrich(kube, session, token_file, POD_ALERT)
    [(kind, reason)] = kube_errors(enriched)
    assert kind == SourceErrorKind.REJECTED
    assert 'HTTP 403: events is forbidden: User "system:serviceaccount:aiops:enricher" cannot list' in reason
    assert enriched.evidence.logs is None


async def test_a_429_waits_the_retry_after_the_api_server_asks_for(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    events = [KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE)]
    async with FakeKubernetes(events, token=TOKEN, retry_after=1) as kube:
        kube.fail_next("rate_limited")
        enriched = await enrich(kube, session, token_file, POD_ALERT)
    first, second = kube.requests
    assert second.at - first.at >= 0.95  # not the 0.2 s backoff of an answer without Retry-After
    assert kube_errors(enriched) == []
    assert len(samples(enriched)) == 1


@pytest.mark.parametrize(
    ("failures", "kind", "reason"),
    [
        (["not_found"], SourceErrorKind.REJECTED, "HTTP 404: 404 page not found"),
        (["server_error"] * 3, SourceErrorKind.UNAVAILABLE, "HTTP 500: Internal error occurred"),
        (["rate_limited"] * 3, SourceErrorKind.RATE_LIMITED, "HTTP 429: Too many requests"),
        (["timeout"] * 3, SourceErrorKind.TIMEOUT, "timed out after"),
    ],
)
async def test_failures_become_typed_errors_and_never_fail_the_alert(
    session: aiohttp.ClientSession,
    token_file: Path,
    failures: list[str],
    kind: SourceErrorKind,
    reason: str,
) -> None:
    events = [KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE)]
    async with FakeKubernetes(events, token=TOKEN, retry_after=0) as kube:
        kube.fail_next(*failures)  # type: ignore[arg-type]
        enriched = await enrich(kube, session, token_file, POD_ALERT)
    [(found_kind, found_reason)] = kube_errors(enriched)
    assert (found_kind, found_reason[: len(reason)]) == (kind, reason)
    assert enriched.evidence.logs is None
    assert enriched.id == "a1"


async def test_a_transient_failure_is_retried_within_the_deadline(
    session: aiohttp.ClientSession, token_file: Path
) -> None:
    events = [KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE)]
    async with FakeKubernetes(events, token=TOKEN) as kube:
        kube.fail_next("unavailable")
        enriched = await enrich(kube, session, token_file, POD_ALERT)
    assert len(kube.requests) == 2
    assert kube_errors(enriched) == []
    assert len(samples(enriched)) == 1


def certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    cert, key = directory / "ca.crt", directory / "server.key"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject, *files]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command makes the test certificate")
async def test_in_a_pod_the_service_accounts_token_and_ca_reach_the_api_server_over_tls(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    cert, key = certificate(account)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    events = [KubeEvent("shop", "Pod", POD, "FailedScheduling", NOT_SCHEDULED, BASE)]
    async with FakeKubernetes(events, token=TOKEN, tls=tls) as kube:
        port = kube.url.rsplit(":", 1)[1]
        env = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_TOKEN_FILE": str(account / "token"),
            "KUBERNETES_CA_FILE": str(cert),
            "ENRICHMENT_DEADLINE_SECONDS": "4",
        }
        enriched = await make_enricher(load(EnricherSettings, env), session).handle(raw_alert(POD_ALERT))
        assert len(samples(enriched)) == 1
        # Without the cluster's CA the server is not trusted: said, not fatal.
        untrusted = {
            **env,
            "KUBERNETES_API_URL": kube.url,
            "KUBERNETES_CA_FILE": str(tmp_path / "absent.crt"),
        }
        with pytest.raises(ConfigError, match="KUBERNETES_CA_FILE"):
            make_enricher(load(EnricherSettings, untrusted), session)
        system = {k: v for k, v in untrusted.items() if k != "KUBERNETES_CA_FILE"}
        refused = await make_enricher(load(EnricherSettings, system), session).handle(raw_alert(POD_ALERT))
    assert [kind for kind, _ in kube_errors(refused)] == [SourceErrorKind.UNREACHABLE]


async def test_settings_that_cannot_work_stop_the_start_naming_the_setting(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def start(**env: str) -> bool:
        """Whether the enricher starts with a source (Kubernetes is the only one asked for here)."""
        return make_enricher(load(EnricherSettings, env), session).has_sources

    with pytest.raises(ConfigError, match="KUBERNETES_API_URL"):
        start(KUBERNETES_API_URL="kube.example:6443")
    with pytest.raises(ConfigError, match="KUBERNETES_TOKEN_FILE"):
        start(KUBERNETES_API_URL="https://kube.example:6443", KUBERNETES_TOKEN_FILE=str(tmp_path / "none"))
    # In a pod with the service account's token, its CA must be there too.
    token = tmp_path / "token"
    token.write_text(TOKEN)
    with pytest.raises(ConfigError, match="KUBERNETES_CA_FILE"):
        start(KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_TOKEN_FILE=str(token))
    # A pod without a token mounted (automountServiceAccountToken: false) runs without the source.
    assert not start(KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_TOKEN_FILE=str(tmp_path / "not-mounted"))
    # Outside one, through kubectl proxy: no token, no TLS, nothing to refuse.
    assert start(KUBERNETES_API_URL="http://127.0.0.1:8001")
    assert not start(
        KUBERNETES_API_URL="off", KUBERNETES_SERVICE_HOST="10.96.0.1", KUBERNETES_TOKEN_FILE=str(token)
    )
