"""The enrichment against a real Prometheus finds and describes each generated incident."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
import pytest
from loguru import logger

from schemas import Alert, EnrichedAlert, MetricEvidence, RawAlert
from services.enricher import EnricherSettings, make_enricher
from services.incidents import Correlator, IncidentSettings, OpenIndex
from services.incidents._footprint import footprint
from services.runtime import load
from tests.integration.enricher.prometheus_tsdb import (
    IncidentPrometheus,
    binaries_missing,
    incident_prometheus,
)

pytestmark = pytest.mark.skipif(binaries_missing() is not None, reason=str(binaries_missing()))


@pytest.fixture(scope="module")
def prometheus() -> Iterator[IncidentPrometheus]:
    with incident_prometheus() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def enrich(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession, labels: dict[str, str], expr: str = ""
) -> EnrichedAlert:
    url = f"{prometheus.url}/graph?g0.expr={quote(expr)}&g0.tab=1" if expr else ""
    starts_at = datetime.fromtimestamp(prometheus.starts_at, UTC)
    alert = Alert(status="firing", labels=labels, starts_at=starts_at, generator_url=url)
    settings = load(EnricherSettings, {"PROMETHEUS_URL": prometheus.url, "QUERY_CACHE_SECONDS": "0"})
    return await make_enricher(settings, session).handle(RawAlert(id="x", alert=alert, received_at=starts_at))


def clock(base: int, minutes: int) -> str:
    """The fixture's series start on a whole hour four hours ago; events name times of that hour."""
    return datetime.fromtimestamp(base + minutes * 60, UTC).strftime("%H:%M:%SZ")


def by_name(enriched: EnrichedAlert) -> dict[str, MetricEvidence]:
    return {metric.name: metric for metric in enriched.evidence.metrics}


def events(metric: MetricEvidence) -> list[str]:
    return [event for series in metric.series for event in series.events]


async def test_a_cpu_spike_is_found_in_the_alert_series_and_by_cpu_mode(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    expr = '(1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m]))) > 0.9'
    enriched = await enrich(
        prometheus, session, {"alertname": "HostHighCpu", "instance": "node-1:9100"}, expr
    )
    metrics = by_name(enriched)
    assert events(metrics["alert_series"])[0].startswith(
        f"rose to 0.97 for 6m from {clock(prometheus.base, 29)}, 1m before the alert"
    )
    user = metrics["node_cpu_by_mode"].series[0]
    assert user.labels == {"mode": "user"}, "the busiest mode comes first"
    assert user.before == pytest.approx(0.05)
    assert user.events[0].startswith("rose to 0.93")
    assert events(metrics["node_load1"])[0].startswith("rose to 4 ")
    # Queries whose series do not exist for node-1 never ran a range query.
    assert "node_filesystem_free_bytes" not in metrics
    assert [e.source for e in enriched.evidence.errors] == ["loki"]


async def test_a_filling_filesystem_is_a_fall_with_the_time_left(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    labels = {"alertname": "HostDiskWillFillIn1h", "instance": "node-2:9100", "mountpoint": "/var"}
    metrics = by_name(await enrich(prometheus, session, labels))
    [event] = events(metrics["node_filesystem_free_bytes"])
    assert event.startswith("steady fall of 800M/min from 36G to 12G")
    assert "reaches 0 in about 15m" in event
    assert events(metrics["node_filesystem_free_inodes"]) == []
    assert "node_cpu_by_mode" not in metrics


async def test_memory_climbing_to_its_limit(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    labels = {"alertname": "ContainerMemoryNearLimit", "namespace": "shop", "pod": "cart-0"}
    metrics = by_name(await enrich(prometheus, session, labels))
    [ratio] = metrics["container_memory_of_limit"].series
    assert ratio.labels == {"container": "cart"}
    assert ratio.max > 0.99
    assert ratio.events[0].startswith("steady rise of 0.0137/min from 0.596 to 0.998")
    assert events(metrics["container_memory_working_set_bytes"])[0].startswith("steady rise of 7.33M/min")


async def test_a_restarting_container_and_why_it_was_last_terminated(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-1"}
    metrics = by_name(await enrich(prometheus, session, labels))
    assert events(metrics["container_restarts"]) == [
        f"increased 6 times from 0 to 6, last at {clock(prometheus.base, 42)}, 12m after the alert"
    ]
    [reason] = metrics["container_last_terminated_reason"].series
    assert reason.labels == {"container": "api", "reason": "OOMKilled"}


async def test_a_pod_alert_without_a_node_label_joins_its_nodes_outage_by_the_pods_placement(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    # kube-prometheus's pod alerts carry no node: kube-state-metrics' series of the pod say where it runs.
    pod_alert = await enrich(
        prometheus, session, {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "api-1"}
    )
    print_ = footprint(pod_alert)
    assert {
        "node=ip-10-0-1-7",
        "node=10.0.1.7",
        "workload=shop/api",
        "volume=shop/data-api-1",
    } <= print_.entities
    node = "ip-10-0-1-7.eu-west-1.compute.internal"
    node_down = await enrich(prometheus, session, {"alertname": "KubeNodeNotReady", "node": node})
    now = datetime.fromtimestamp(prometheus.starts_at + 60, UTC)
    correlator = Correlator(IncidentSettings())
    index, (down,) = correlator.assign(OpenIndex(), [node_down], now)
    _, (pod,) = correlator.assign(index, [pod_alert], now)
    assert (pod.incident_id, pod.role) == (down.incident_id, "caused")
    # A pod kube-state-metrics knows nothing of is placed nowhere, and asks Prometheus for nothing more.
    elsewhere = await enrich(
        prometheus, session, {"alertname": "KubePodNotReady", "namespace": "shop", "pod": "web-9"}
    )
    assert "pod_placement" not in by_name(elsewhere)
    assert not any(name.startswith("node=") for name in footprint(elsewhere).entities)


async def test_a_full_claim_joins_the_full_export_of_the_file_server_behind_it(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    # The claim's PersistentVolume names its NFS server and path; the server's node-exporter reports
    # the exported filesystem. Neither alert names the other.
    export_full = await enrich(
        prometheus, session, {"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "node-exporter",
        "instance": "nfs-01.storage.internal:9100", "mountpoint": "/export/shared", "fstype": "xfs"},
    )  # fmt: skip
    claim = {"namespace": "media", "persistentvolumeclaim": "shared-uploads"}
    claim_full = await enrich(prometheus, session, {"alertname": "KubePersistentVolumeFillingUp", **claim})
    [volume] = by_name(claim_full)["claim_volume"].series
    assert volume.labels["nfs_path"] == "/export/shared/media-shared-uploads-pvc-3f1c"
    assert "export=nfs-01.storage.internal:/export/shared" in footprint(claim_full).entities
    now = datetime.fromtimestamp(prometheus.starts_at + 60, UTC)
    correlator = Correlator(IncidentSettings())
    index, (server,) = correlator.assign(OpenIndex(), [export_full], now)
    _, (joined,) = correlator.assign(index, [claim_full], now)
    assert joined.incident_id == server.incident_id
    # Another machine's filesystem at the same path is another disk.
    other = await enrich(
        prometheus, session, {"alertname": "NodeFilesystemAlmostOutOfSpace", "job": "node-exporter",
        "instance": "10.0.9.9:9100", "mountpoint": "/export/shared", "fstype": "xfs"},
    )  # fmt: skip
    index, (elsewhere,) = correlator.assign(OpenIndex(), [other], now)
    _, (alone,) = correlator.assign(index, [claim_full], now)
    assert alone.incident_id != elsewhere.incident_id


async def test_a_failing_probe_of_a_site_joins_the_crash_loop_of_the_service_its_ingress_serves(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    url = "https://sso.example.com/realms/prod/.well-known/openid-configuration"
    probe = await enrich(
        prometheus, session, {"alertname": "BlackboxProbeFailed", "job": "blackbox", "instance": url}
    )
    assert "app=auth/keycloak" in footprint(probe).entities
    crash = await enrich(
        prometheus, session, {"alertname": "KubePodCrashLooping", "namespace": "auth", "pod": "keycloak-0"}
    )
    now = datetime.fromtimestamp(prometheus.starts_at + 60, UTC)
    correlator = Correlator(IncidentSettings())
    index, (opened,) = correlator.assign(OpenIndex(), [probe], now)
    _, (joined,) = correlator.assign(index, [crash], now)
    assert joined.incident_id == opened.incident_id
    # A site without an Ingress in the cluster is only its host.
    other = await enrich(
        prometheus, session, {"alertname": "BlackboxProbeFailed", "instance": "https://x.example.org"}
    )
    assert "ingress_backends" not in by_name(other)
    assert not any(name.startswith("app=") for name in footprint(other).entities)


async def test_a_5xx_burst_is_an_error_ratio_not_a_rise_in_demand(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    expr = 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[2m])) > 5'
    metrics = by_name(
        await enrich(prometheus, session, {"alertname": "HighErrorRate", "job": "checkout"}, expr)
    )
    assert metrics["alert_series"].query == 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[2m]))'
    [ratio] = metrics["http_5xx_error_ratio"].series
    assert ratio.events == [
        f"rose to 0.286 for 10m from {clock(prometheus.base, 28)}, 2m before the alert (typical 0.002)"
    ]
    [demand] = metrics["http_requests_per_second"].series
    assert demand.before == pytest.approx(50.1)
    assert not any(event.startswith(("spike", "level shift")) for event in demand.events)
    assert "http_latency_p99_seconds" not in metrics  # no histogram for this job


async def test_a_rollout_in_the_window_shows_as_a_step_and_as_versions_that_come_and_go(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    labels = {"alertname": "CheckoutSlow", "job": "checkout", "namespace": "shop", "deployment": "cart"}
    metrics = by_name(await enrich(prometheus, session, labels))
    rolled = clock(prometheus.base, 25)
    assert events(metrics["deployment_generation"]) == [
        f"step from 41 to 42 at {rolled}, 5m before the alert"
    ]
    versions = {s.labels["version"]: s.events for s in metrics["build_info_versions"].series}
    # Blocks imported by promtool carry no staleness markers: the old version lingers for
    # Prometheus' 5m look-back, where a live scrape would end it at once.
    gone = datetime.fromtimestamp(prometheus.base + 29 * 60 + 45, UTC).strftime("%H:%M:%SZ")
    assert versions == {
        "1.5.0": [f"appeared at {rolled}, 5m before the alert"],
        "1.4.0": [f"disappeared after {gone}, at the alert start"],
    }
    created = {s.labels["replicaset"]: s.events for s in metrics["deployment_replicaset_created"].series}
    assert created == {"cart-7f9c8d6b5": [f"appeared at {rolled}, 5m before the alert"], "cart-5d98ffcfd": []}


async def test_more_series_than_kept_are_counted_not_dropped_silently(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    starts_at = datetime.fromtimestamp(prometheus.starts_at, UTC)
    alert = Alert(status="firing", labels={"alertname": "X", "instance": "node-1:9100"}, starts_at=starts_at)
    env = {"PROMETHEUS_URL": prometheus.url, "MAX_SERIES_PER_QUERY": "1", "MAX_METRICS_POINTS": "20"}
    enriched = await make_enricher(load(EnricherSettings, env), session).handle(
        RawAlert(id="x", alert=alert, received_at=starts_at)
    )
    cpu = by_name(enriched)["node_cpu_by_mode"]
    assert cpu.total_series == 2
    assert cpu.omitted_series == 1
    assert len(cpu.series[0].points) <= 20


async def test_a_bad_expression_is_recorded_once_and_the_rest_still_runs(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    enriched = await enrich(prometheus, session, {"alertname": "Broken", "job": "checkout"}, "rate(foo[5m]")
    [error] = [e for e in enriched.evidence.errors if e.source == "prometheus"]
    assert error.query == "rate(foo[5m]"
    assert error.reason.startswith("HTTP 400: ")
    assert "parse error" in error.reason
    assert "http_requests_per_second" in by_name(enriched)


async def test_one_short_info_line_per_alert_and_the_plan_only_at_debug(
    prometheus: IncidentPrometheus, session: aiohttp.ClientSession
) -> None:
    records: list[tuple[str, str]] = []
    sink = logger.add(
        lambda message: records.append((message.record["level"].name, message.record["message"]))
    )
    try:
        labels = {
            "alertname": "KubePodCrashLooping",
            "namespace": "shop",
            "pod": "api-1",
            "instance": "x" * 500,
        }
        await enrich(
            prometheus, session, labels, "max_over_time(kube_pod_container_status_restarts_total[5m]) > 3"
        )
    finally:
        logger.remove(sink)
    # Besides the start-up line naming the packs in use, once per process (made here per call).
    info = [m for level, m in records if level == "INFO" and not m.startswith("query packs from ")]
    assert len(info) == 1
    assert info[0].startswith("enriched KubePodCrashLooping: 4 of ")
    assert len(info[0]) <= 300
    [plan] = [message for level, message in records if level == "DEBUG" and "enrichment plan" in message]
    assert "kubernetes-pod/container_restarts" in plan
