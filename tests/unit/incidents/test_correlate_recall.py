"""Links a person reads in the alerts without a shared label: the API server's refusals in a client's
logs, Java's TLS errors, a server's refusing reply naming its host, one error logged at two levels, a
named cause over a class, a node agent's TargetDown, a probe of a Service's cluster name.

Written from how the software involved reports its failures (docs/incidents.md, "How alerts are
grouped"), with names of our own; each test has the unrelated alert that must stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import schemas
from services.incidents import Assignment, Correlator, IncidentSettings, OpenIndex
from services.incidents._footprint import footprint
from services.incidents._labels import service_address
from tests.unit.incidents._alerts import enriched, pod_info

KSM: dict[str, Any] = {"job": "kube-state-metrics", "instance": "10.30.0.4:8080", "cluster": "east"}


def _one_by_one(alerts: Sequence[schemas.EnrichedAlert]) -> list[Assignment]:
    """Each alert in its own batch, a second after it starts: as they reach the analyst."""
    correlator, index, out = Correlator(IncidentSettings()), OpenIndex(), []
    for alert in alerts:
        index, (assignment,) = correlator.assign(index, [alert], alert.alert.starts_at + timedelta(seconds=1))
        out.append(assignment)
    return out


def _incidents(alerts: Sequence[schemas.EnrichedAlert]) -> list[str]:
    return [assignment.incident_id for assignment in _one_by_one(alerts)]


def test_clients_refused_by_the_api_server_join_its_incident() -> None:
    api = enriched("KubeAPIServerLatencyHigh", job="apiserver", cluster="east")
    throttled = enriched(
        "KubePodCrashLooping", at=20, namespace="ops", pod="backup-operator-6b8d9c7f5-zt2wq",
        logs=("E0402 08:01:02 reflector.go:140] failed to list *v1.Secret: the server has received too many "
              "requests and has asked us to try again later (get secrets)",),
        **KSM,
    )  # fmt: skip
    watch = enriched(
        "IngressControllerSyncErrors", at=40, namespace="edge", service="gateway-controller", cluster="east",
        logs=("W0402 08:01:30 reflector.go:535] failed to watch *v1.Ingress: Get "
              "\"https://10.40.0.1:443/apis/networking.k8s.io/v1/ingresses\": "
              "dial tcp 10.40.0.1:443: i/o timeout",),
    )  # fmt: skip
    # Forbidden is the client's permissions, not the API server failing: its own story.
    forbidden = enriched(
        "KubePodCrashLooping", at=50, namespace="tools", pod="report-bot-7c9f8d6b4-mn4kp",
        logs=("E0402 08:01:40 reflector.go:140] failed to list *v1.Secret: secrets is forbidden: User "
              "\"system:serviceaccount:tools:report-bot\" cannot list resource \"secrets\"",),
        **KSM,
    )  # fmt: skip
    first, second, third, fourth = _incidents([api, throttled, watch, forbidden])
    assert first == second == third
    assert fourth != first


def test_a_java_tls_failure_is_a_certificate_failure() -> None:
    expired = enriched(
        "SslCertificateExpired", job="blackbox", instance="https://pay.acme-corp.io", cluster="east",
        expr="probe_ssl_earliest_cert_expiry - time() < 0",
    )  # fmt: skip
    client = enriched(
        "SettlementCallsFailing", at=30, namespace="ledger", service="settlement", cluster="east",
        logs=("javax.net.ssl.SSLHandshakeException: PKIX path validation failed: "
              "java.security.cert.CertPathValidatorException: validity check failed",),
    )  # fmt: skip
    unrelated = enriched(
        "ReconcileJobErrors", at=40, namespace="ledger-batch", service="reconcile", cluster="east",
        logs=("java.lang.IllegalStateException: ledger period already closed for account group",),
    )  # fmt: skip
    first, second, third = _incidents([expired, client, unrelated])
    assert first == second
    assert third != first


def test_a_server_refusing_by_name_outweighs_a_pod_on_a_dead_node() -> None:
    # One Deployment failing twice: a replica on a node that died, and its errors because the cache it
    # writes to refuses writes (out of memory). The errors belong to the cache, named in the reply.
    node = enriched("KubeNodeNotReady", node="worker-c-4", **KSM)
    replica = enriched(
        "KubePodNotReady", at=10, namespace="web", pod="basket-5d7f9c8b6-wq4zt",
        metrics=[pod_info("basket-5d7f9c8b6-wq4zt", "worker-c-4", "web")], **KSM,
    )  # fmt: skip
    cache = enriched(
        "RedisMemoryFull", at=5, job="redis-exporter", namespace="web", service="basket-cache",
        instance="basket-cache-0.basket-cache.web.svc:9121", cluster="east",
    )  # fmt: skip
    errors = enriched(
        "HTTPErrorsHigh", at=40, namespace="web", service="basket", cluster="east",
        logs=("OOM command not allowed when used memory > 'maxmemory'. "
              "(basket-cache-0.basket-cache.web.svc:6379)",),
    )  # fmt: skip
    names = ("node", "cache", "replica", "errors")
    by_name = dict(zip(names, _incidents([node, cache, replica, errors]), strict=True))
    assert by_name["replica"] == by_name["node"]
    assert by_name["errors"] == by_name["cache"] != by_name["node"]


def test_one_error_logged_at_two_levels_is_one_line() -> None:
    # One release fails two services with an error; a third crash-loops printing it as a panic.
    line = "retry policy: invalid budget -1 for client billing-sdk 3.2.0"
    failing = [
        enriched("HTTPErrorsHigh", at=i * 10, namespace="sales", service=name, version="v7.3.1",
                 cluster="east", logs=(line,))
        for i, name in enumerate(("orders", "invoices"))
    ]  # fmt: skip
    panic = enriched(
        "KubePodCrashLooping", at=40, namespace="logistics", pod="shipper-5c7d9b8f6-kq2zx",
        logs=(f"panic: {line}",), **KSM,
    )  # fmt: skip
    other_panic = enriched(
        "KubePodCrashLooping", at=45, namespace="logistics", pod="tracker-6f8b7d9c5-px2nm",
        logs=("panic: runtime error: index out of range with length 0 in tracker loop",), **KSM,
    )  # fmt: skip
    first, second, third, fourth = _incidents([*failing, panic, other_panic])
    assert first == second == third
    assert fourth != first


def test_a_cause_named_by_host_beats_a_cause_known_by_technology() -> None:
    # A machine is down; the coordination service's ensemble alert fires apart (no machine named).
    # A member then times out reaching that machine: it is the machine's story, not "some ZooKeeper".
    down = enriched(
        "InstanceDown", expr="up == 0", job="node-exporter", instance="10.50.2.7:9100", cluster="east"
    )
    ensemble = enriched(
        "ZookeeperEnsembleDegraded", at=10, job="zookeeper", namespace="coord", cluster="east"
    )
    member = enriched(
        "ZookeeperRequestsFailing", at=20, job="zookeeper", instance="10.50.1.3:2181", namespace="coord",
        cluster="east", logs=("zookeeper: dial tcp 10.50.2.7:2888: i/o timeout",),
    )  # fmt: skip
    machine, alone, joined = _incidents([down, ensemble, member])
    assert joined == machine != alone


def test_a_node_agents_targets_down_join_a_node_that_is_down() -> None:
    node = enriched("KubeNodeNotReady", node="worker-d-9", **KSM)
    agents = enriched(
        "TargetDown", at=30, job="node-exporter", namespace="monitoring", expr="up == 0", cluster="east",
        summary="One or more targets are unreachable.",
    )  # fmt: skip
    app_targets = enriched(
        "TargetDown", at=35, job="invoicing", namespace="billing", expr="up == 0", cluster="east",
        summary="One or more targets are unreachable.",
    )  # fmt: skip
    first, second, third = _incidents([node, agents, app_targets])
    assert first == second
    assert third != first
    # The other way round: the node's alert arrives last and explains the targets already there.
    assert len(set(_incidents([agents, node]))) == 1
    # With no node down, a node agent's TargetDown stays alone.
    kubelet = enriched(
        "TargetDown", at=5, job="kubelet", namespace="kube-system", expr="up == 0", cluster="east"
    )
    assert len(set(_incidents([agents, kubelet]))) == 2


def test_a_probe_of_a_services_cluster_name_is_about_that_application() -> None:
    node = enriched("KubeNodeNotReady", node="worker-e-2", **KSM)
    pods = [
        enriched("KubePodNotReady", at=5 + i, namespace="store", pod=f"catalog-7b9c8d6f5-{suffix}",
                 metrics=[pod_info(f"catalog-7b9c8d6f5-{suffix}", "worker-e-2", "store")], **KSM)
        for i, suffix in enumerate(("qz2xw", "bk4pt"))
    ]  # fmt: skip
    probe = enriched(
        "ProbeFailed", at=30, job="blackbox", instance="http://catalog.store.svc.cluster.local:8080/ready",
        expr="probe_success == 0", cluster="east",
    )  # fmt: skip
    same_name_elsewhere = enriched(
        "ProbeFailed", at=31, job="blackbox", instance="http://catalog.staging.svc:8080/ready",
        expr="probe_success == 0", cluster="east",
    )  # fmt: skip
    ids = _incidents([node, *pods, probe, same_name_elsewhere])
    assert len(set(ids[:4])) == 1
    assert ids[4] != ids[0]


def test_a_services_cluster_name_gives_its_namespace_and_name() -> None:
    assert service_address("catalog.store.svc") == ("store", "catalog")
    assert service_address("catalog.store.svc.cluster.local") == ("store", "catalog")
    # a StatefulSet pod's name, a public name, a bare name
    assert service_address("db-0.db.data.svc.cluster.local") == ("", "")
    assert service_address("catalog.example.com") == ("", "")
    assert service_address("catalog") == ("", "")
    probe = footprint(enriched("ProbeFailed", job="blackbox", instance="http://catalog.store.svc:8080/ready"))
    assert "app=store/catalog" in probe.entities


def test_two_applications_crash_looping_share_no_error_line_through_the_kubelet() -> None:
    # Two applications of one namespace crash-loop at once. Both pods' logs hold the kubelet's back-off
    # event and a Python traceback's header; their own errors differ. Two crash loops, not one: neither
    # the platform's words nor a header are what the programs printed (the same rule in one namespace
    # needs one more signal).
    def crashing(at: int, namespace: str, pod: str, error: str) -> schemas.EnrichedAlert:
        back_off = (
            f"name={pod}.1 kind=Pod type=Warning reason=BackOff "
            f'msg="Back-off restarting failed container main in pod {pod}"'
        )
        return enriched(
            "KubePodCrashLooping", at=at, namespace=namespace, pod=pod, **KSM,
            logs=(back_off, "Traceback (most recent call last):", error),
        )  # fmt: skip

    first, second = _incidents(
        [
            crashing(0, "billing", "invoicer-5c7d9b8f6-kq2zx", "KeyError: 'currency' in invoice renderer"),
            crashing(
                20, "billing", "indexer-6f8b7d9c5-px2nm", "ValueError: shard count must be positive here"
            ),
        ]
    )
    assert first != second
