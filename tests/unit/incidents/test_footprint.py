"""Footprints: what places an alert and what it says is failing, read as whole words and real hosts."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

import schemas
from services.incidents import Correlator, IncidentSettings, OpenIndex, load_topology
from services.incidents._evidence import _numbers_read_alike, _text_symptoms, hosts_in_line, text_symptoms
from services.incidents._footprint import Footprint, footprint
from services.incidents._kinds import alert_kind, words_of
from services.incidents._labels import deployment_of, site_domain, stateful_names, workload_of
from services.incidents._topology import host_name, parse_topology
from services.runtime import ConfigError
from tests.unit.incidents._alerts import T0, enriched, pod_info


@pytest.mark.parametrize(
    ("line", "hosts"),
    [
        ("dial tcp db-main:5432: connect: connection refused", ("db-main",)),
        (
            'could not connect to server: Connection refused\n\tIs the server running on host "db-main"',
            ("db-main",),
        ),
        ("Error: connect ECONNREFUSED 10.0.3.4:6379", ("10.0.3.4",)),
        ("dial tcp: lookup redis-cart on 10.96.0.10:53: no such host", ("10.96.0.10", "redis-cart")),
        ('Get "https://auth.example.com/token": x509: certificate has expired', ("auth.example.com",)),
        ("dial tcp 10.0.5.1:9092: connect: no route to host", ("10.0.5.1",)),
        (
            "Connection to node 1 (kafka-1.kafka-headless/10.0.0.1:9092) could not be established.",
            ("kafka-1.kafka-headless", "10.0.0.1"),
        ),
        # no failed connection, or no host written as a host
        ("GET /orders 200 in 12ms from checkout-7d9f:8080", ()),
        ("could not connect to database", ()),
        ("2024-05-14T09:12:00Z request timed out after 30s", ()),
        ("dial tcp 127.0.0.1:5432: connect: connection refused", ()),
        # any address of the Kubernetes API is the "kubernetes" Service
        (
            'Get "https://10.96.0.1:443/apis/coordination.k8s.io/v1/leases": context deadline exceeded',
            ("10.96.0.1", "kubernetes"),
        ),
    ],
)
def test_hosts_come_only_from_failed_connections(line: str, hosts: tuple[str, ...]) -> None:
    assert hosts_in_line(line) == hosts


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("checkout-7d9f8b6c4-x2k4q", "checkout"),
        ("db-main-0", "db-main"),
        ("fluent-bit-x7k2p", "fluent-bit"),
        # A CronJob's pod: its Job is named by the scheduled minute, no pod-template hash.
        ("backup-29952459-x7k2p", "backup-29952459"),
        ("nginx-proxy", ""),
        ("api", ""),
    ],
)
def test_the_workload_of_a_pod_strips_kubernetes_suffixes_only(pod: str, workload: str) -> None:
    assert workload_of(pod) == workload


@pytest.mark.parametrize(
    ("alertname", "unavailable", "failing"),
    [
        ("KubeNodeNotReady", True, True),
        ("TargetDown", True, True),
        ("PostgresqlDown", True, True),
        ("HaproxyHttpSlowingDown", False, False),
        ("PrometheusTooManyRestarts", False, False),
        ("KubePodCrashLooping", False, True),
        ("SSLCertExpired", False, True),
        ("NodeFilesystemFillingUp", False, False),
        ("HighCPUUsage", False, False),
        # a server error status class or "many" of one status: the failure is in the name
        ("NGINXTooMany500s", False, True),
        ("HTTP5XXErrorRateHigh", False, True),
        ("Http5xxRate", False, True),
        ("TooMany4xx", False, False),
        # capitals after a number are a word of their own
        ("Pod0OOMKilled", False, True),
        ("Replica0DOWN", True, True),
        # how a process or its data stopped; what is left of a machine's memory is a threshold
        ("HostOutOfMemory", False, False),
        ("WorkerCrashed", False, True),
        ("ContainerKilled", False, True),
        ("StoreWalCorruptions", False, True),
        ("RaidInsufficientDrives", False, True),
        ("ReplicationThreadNotRunning", False, True),
        ("ExporterNotConnectedToBroker", False, True),
        ("AllTargetsMissing", True, True),
        ("EtcdNoLeader", True, True),
        ("AlertmanagerClusterCrashlooping", False, True),
        ("KubeDaemonSetRolloutStuck", False, True),
        ("KubeNodeEviction", False, True),
    ],
)
def test_what_an_alert_says_is_read_as_words(alertname: str, unavailable: bool, failing: bool) -> None:
    kind = alert_kind(enriched(alertname).alert)
    assert (kind.unavailable, kind.failing) == (unavailable, failing)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("More than 5% of requests returned 5XX", ("more", "than", "5", "of", "requests", "returned", "5xx")),
        ("HTTP5XXErrors", ("http", "5xx", "errors")),
        ("TooMany500s", ("too", "many", "500s")),
        (
            "x509Error: certificate signed by unknown authority",
            ("x509", "error", "certificate", "signed", "by"),
        ),
        ("K8sNodeDown", ("k", "8s", "node", "down")),
        ("Too many 5XXs", ("too", "many", "5xxs")),
        ("Node1DNSFailures", ("node", "1", "dns", "failures")),
        ("x5090", ("x", "5090")),
    ],
)
def test_numbers_keep_a_lower_case_suffix_or_a_status_class(text: str, words: tuple[str, ...]) -> None:
    assert words_of(text)[: len(words)] == words


@pytest.mark.parametrize("summary", ["Backup took longer than 500s", "Scrape took 512s"])
def test_a_number_of_seconds_is_no_server_error(summary: str) -> None:
    assert not alert_kind(enriched("BackupSlowish", summary=summary).alert).failing


@pytest.mark.parametrize("summary", ["Too many HTTP 500s on checkout", "checkout answers many 503s"])
def test_server_error_statuses_counted_say_the_subject_fails(summary: str) -> None:
    assert alert_kind(enriched("CheckoutReplies", summary=summary).alert).failing


def test_a_summary_counting_5xx_replies_says_the_subject_fails() -> None:
    message = enriched(
        "ProxyAlert", summary="More than 5% of all requests returned 5XX", host="shop.example.com"
    )
    assert alert_kind(message.alert).failing
    assert "host=shop.example.com" in footprint(message).causes


def test_up_equals_zero_says_the_target_is_gone() -> None:
    message = enriched("ScrapeProblem", expr='up{job="api"} == 0', job="api", instance="10.1.0.4:8080")
    assert alert_kind(message.alert).unavailable
    print_ = footprint(message)
    assert {"host=10.1.0.4", "dependency=api"} <= print_.causes
    # beside an instance the job is a scrape configuration, not the alert's service
    assert "job=api" in print_.entities
    assert "service=api" not in print_.entities


@pytest.mark.parametrize(
    ("expr", "gone"),
    [
        ("sum by (job) (up) == 0", True),
        ('max(probe_success{job="blackbox"}) < 1', True),
        ("avg(up) < 0.5", True),
        ('up{job="api"} == 1', False),
        ("sum(up) == 10", False),
    ],
)
def test_up_at_zero_or_below_one_says_the_targets_are_gone(expr: str, gone: bool) -> None:
    assert alert_kind(enriched("ScrapeProblem", expr=expr, job="api").alert).unavailable == gone


def test_a_pod_alert_is_placed_on_its_node_and_says_nothing_of_the_node() -> None:
    message = enriched(
        "KubePodNotReady",
        namespace="shop",
        pod="cart-7d9f8b6c4-x2k4q",
        job="kube-state-metrics",
        instance="10.9.9.9:8080",
        metrics=[pod_info("cart-7d9f8b6c4-x2k4q", "ip-10-0-1-7", "shop", host_ip="10.0.1.7")],
    )
    print_ = footprint(message)
    assert {
        "pod=shop/cart-7d9f8b6c4-x2k4q",
        "workload=shop/cart",
        "node=ip-10-0-1-7",
        "node=10.0.1.7",
    } <= print_.entities
    # kube-state-metrics' own address is not the pod's, and its job is no service of the pod
    assert not any(entity.startswith(("host=", "service=")) for entity in print_.entities)
    assert not any(cause.startswith("node=") for cause in print_.causes)


def test_a_node_down_names_its_node_and_address_as_causes() -> None:
    message = enriched("NodeDown", instance="10.0.1.7:9100", job="node-exporter", node="ip-10-0-1-7")
    assert {"node=ip-10-0-1-7", "node=10.0.1.7", "dependency=10.0.1.7"} <= footprint(message).causes


def test_an_ec2_style_node_name_is_also_its_address() -> None:
    node_exporter = enriched("NodeDown", instance="10.0.1.7:9100", job="node-exporter")
    pod = enriched(
        "KubePodNotReady", namespace="shop", pod="cart-0", node="ip-10-0-1-7.eu-west-1.compute.internal"
    )
    assert "node=10.0.1.7" in footprint(node_exporter).causes & footprint(pod).entities
    assert "node=ip-10-0-1-7" in footprint(pod).entities


def test_an_agents_address_is_not_the_subjects_host() -> None:
    # cAdvisor's instance is the node: two pods on one node do not share a host
    throttled = enriched(
        "CPUThrottlingHigh", namespace="shop", pod="cart-0", job="kubelet", instance="10.0.1.7:10250"
    )
    assert "host=10.0.1.7" not in footprint(throttled).entities
    assert "node=10.0.1.7" in footprint(throttled).entities
    # a proxy reporting on a backend names the backend, not itself
    backend = enriched(
        "HaproxyServerDown", backend="web", server="vm-web-1", instance="lb-1:8404", job="haproxy"
    )
    assert "host=lb-1" not in footprint(backend).entities
    assert "dependency=vm-web-1" in footprint(backend).entities


def test_topology_dependencies_link_to_a_cause_but_are_never_shared_alone() -> None:
    topology = parse_topology(
        {"services": {"orders": {"depends_on": ["db-main"]}, "cart": {"depends_on": ["db-main"]}}}
    )
    orders = footprint(enriched("HighLatency", service="orders"), topology)
    cart = footprint(enriched("HighErrorRate", service="cart"), topology)
    database = footprint(
        enriched("PostgresqlDown", instance="db-main:9187", job="postgres-exporter"), topology
    )
    assert "needs=db-main" in orders.entities & cart.entities & database.causes


def test_an_alert_with_no_place_is_placed_nowhere() -> None:
    assert not footprint(enriched("Watchdog", cluster="prod", severity="none")).placed
    assert footprint(enriched("HighLatency", service="search")).placed


def test_the_topology_file_adds_dependencies_hosts_and_zones(tmp_path: Path) -> None:
    file = tmp_path / "topology.yaml"
    file.write_text(
        "services:\n"
        "  orders: {depends_on: [db-main]}\n"
        "  db-main: {hosts: [10.0.3.4]}\n"
        "nodes:\n"
        "  ip-10-0-1-7: {zone: eu-west-1a, hosts: [10.0.1.7]}\n"
    )
    topology = load_topology(str(file))
    assert topology is not None
    orders = footprint(enriched("HighErrorRate", service="orders"), topology)
    assert "needs=db-main" in orders.entities
    database = footprint(enriched("InstanceDown", instance="10.0.3.4:9187", job="postgres"), topology)
    assert {"service=db-main", "dependency=db-main"} <= database.causes
    node = footprint(enriched("NodeDown", node="ip-10-0-1-7"), topology)
    assert "zone=eu-west-1a" in node.entities


def test_a_broken_topology_file_is_a_configuration_error(tmp_path: Path) -> None:
    assert load_topology("") is None
    file = tmp_path / "topology.yaml"
    file.write_text("services:\n  orders: {depends_on: {db: 1}}\n")
    with pytest.raises(ConfigError, match="depends_on"):
        load_topology(str(file))
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(str(tmp_path / "missing.yaml"))


def test_hosts_are_compared_without_scheme_path_or_port() -> None:
    assert host_name("https://Shop.example.com:443/health") == "shop.example.com"
    assert host_name("10.0.3.4:5432") == "10.0.3.4"
    assert host_name("[::1]:9100") == "::1"


@pytest.mark.parametrize(
    ("line", "symptoms", "technologies"),
    [
        ("x509: certificate has expired or is not yet valid", ["certificate", "certificate-expiring"], []),
        ("dial tcp: lookup orders on 10.96.0.10:53: server misbehaving", ["dns"], []),
        (
            "HikariPool-1 - Connection is not available, request timed out after 30000ms",
            ["connection-pool"],
            [],
        ),
        ("redis: connection pool timeout", ["connection-pool"], ["redis"]),
        ("pq: the database system is shutting down", [], ["postgres"]),
        ("dial tcp 10.0.9.9:6379: connect: connection refused", [], ["redis"]),
        ("write /data/segment-0042: no space left on device", ["disk-full", "local-disk-full"], []),
        (
            "org.apache.kafka.common.errors.TimeoutException: Topic orders not present in metadata",
            [],
            ["kafka"],
        ),
        # a database error that is no failure to reach the database
        ("pq: duplicate key value violates unique constraint", [], []),
    ],
)
def test_failure_classes_and_technologies_come_from_failing_lines(
    line: str, symptoms: list[str], technologies: list[str]
) -> None:
    print_ = footprint(enriched("HighErrorRate", service="orders", logs=(line,)))
    assert sorted(e.split("=", 1)[1] for e in print_.entities if e.startswith("symptom=")) == sorted(symptoms)
    assert sorted(e.split("=", 1)[1] for e in print_.entities if e.startswith("technology=")) == technologies


def test_a_service_and_its_same_named_workload_are_one_application() -> None:
    service = footprint(enriched("HighLatency", namespace="shop", service="checkout"))
    pod = footprint(enriched("KubePodCrashLooping", namespace="shop", pod="checkout-7d9f8b6c4-x2k4q"))
    other_namespace = footprint(enriched("KubePodCrashLooping", namespace="dev", pod="checkout-0"))
    assert "app=shop/checkout" in service.entities & pod.entities
    assert "app=shop/checkout" not in other_namespace.entities


def test_alerts_about_a_technology_or_a_failure_class_name_it_as_a_cause() -> None:
    assert "technology=redis" in footprint(enriched("RedisDown", instance="redis-cart:6379")).causes
    assert "symptom=dns" in footprint(enriched("CoreDNSErrorsHigh", job="coredns")).causes
    assert "symptom=certificate" in footprint(enriched("SSLCertExpired", instance="https://a.example")).causes
    # one that will expire explains x509 errors where it is only (_score.LOCAL_CAUSES)
    soon = footprint(enriched("SSLCertExpiringSoon", instance="https://a.example")).causes
    assert "symptom=certificate-expiring" in soon
    assert "symptom=certificate" not in soon
    assert "symptom=connection-pool" in footprint(enriched("PostgresqlTooManyConnections", job="pg")).causes


def test_an_ingress_controller_failing_explains_the_ingresses_behind_it() -> None:
    controller = footprint(
        enriched("NGINXConfigFailed", namespace="ingress-nginx", pod="ingress-nginx-controller-0")
    )
    errors = footprint(
        enriched("NginxHighHttp5xxErrorRate", namespace="shop", ingress="shop", host="shop.example")
    )
    assert "symptom=ingress" in controller.causes & errors.entities
    assert "symptom=ingress" not in errors.causes


@pytest.mark.parametrize(
    ("host", "names"),
    [
        # a StatefulSet pod's stable name: the pod, its headless Service, its workload
        ("kafka-1.kafka-headless.data.svc.cluster.local", ["kafka-1", "kafka-headless", "kafka"]),
        ("kafka-1.kafka-headless", ["kafka-1", "kafka-headless", "kafka"]),
        # a Service's name, a public name: no pod in them
        ("db-main.data.svc.cluster.local", []),
        ("api.example.com", []),
    ],
)
def test_a_statefulset_pods_dns_name_reaches_its_workload(host: str, names: list[str]) -> None:
    assert stateful_names(host) == names


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("shop.example.com", "example.com"),
        ("api.v2.example.com", "example.com"),
        ("example.com", "example.com"),
        ("www.shop.example.co.uk", "example.co.uk"),
        # addresses and private names share nothing public
        ("10.0.3.4", ""),
        ("ip-10-0-1-7.eu-west-1.compute.internal", ""),
        ("db-main.data.svc.cluster.local", ""),
        ("db-main", ""),
    ],
)
def test_hosts_of_one_registered_domain_share_it(host: str, domain: str) -> None:
    assert site_domain(host) == domain


def test_an_error_line_is_compared_with_its_values_masked() -> None:
    def digest(line: str) -> frozenset[str]:
        return frozenset(
            e
            for e in footprint(enriched("HighErrorRate", service="a", logs=(line,))).entities
            if e.startswith("line=")
        )

    panic = "panic: runtime error: invalid memory address or nil pointer dereference [addr=0x18 pc=0x4a2b1c]"
    assert digest(panic) == digest(panic.replace("0x18", "0x40").replace("0x4a2b1c", "0x99"))
    assert digest(panic) != digest("ERROR template header.html not found in theme directory")
    # too short to say anything
    assert digest("error: 42") == frozenset()


@pytest.mark.parametrize(
    "line",
    [
        # the kubelet's event, as Alloy ships it and the enricher's events source writes it: every
        # crash-looping pod has it, its values masked
        "name=api-7d9f8b6c4-x2k4q.17f3 kind=Pod type=Warning reason=BackOff "
        'msg="Back-off restarting failed container api in pod api-7d9f8b6c4-x2k4q"',
        # a header: the error is what follows it
        "Traceback (most recent call last):",
        "Exception in worker loop, caused by:",
    ],
)
def test_what_the_platform_says_and_headers_are_no_error_line(line: str) -> None:
    entities = footprint(enriched("HighErrorRate", service="a", logs=(line,))).entities
    assert not [e for e in entities if e.startswith("line=")]


def test_the_release_comes_from_version_labels_and_image_tags() -> None:
    def releases(**labels: str) -> set[str]:
        entities = footprint(enriched("HighErrorRate", service="a", labels=labels)).entities
        return {e for e in entities if e.startswith("release=")}

    assert releases(version="v2.14.0") == {"release=v2.14.0"}
    assert releases(image="registry.example.com:5000/shop/cart:2026.03.02-1") == {"release=2026.03.02-1"}
    # "v1" or "latest" name no particular rollout; a registry port is no tag
    assert releases(version="v1", image="cart:latest") == set()
    assert releases(image="registry.example.com:5000/shop/cart") == set()


def test_a_network_share_is_one_volume_on_every_machine_mounting_it() -> None:
    def volumes(instance: str, **labels: str) -> set[str]:
        entities = footprint(
            enriched("NodeFilesystemSpaceFull", instance=instance, job="node-exporter", labels=labels)
        ).entities
        return {e for e in entities if e.startswith("volume=")}

    share = {"fstype": "nfs4", "mountpoint": "/mnt/uploads"}
    assert volumes("10.0.1.7:9100", **share) == volumes("10.0.1.8:9100", **share) != set()
    # a local disk's mountpoint is every machine's own
    assert volumes("10.0.1.7:9100", fstype="ext4", mountpoint="/") == set()


def test_a_target_at_an_address_stands_on_the_node_of_that_address() -> None:
    etcd = footprint(enriched("etcdNoLeader", job="etcd", instance="10.0.1.5:2379"))
    assert "node=10.0.1.5" in etcd.entities
    assert "node=10.0.1.5" not in etcd.causes  # it runs there; it does not say the node is down


def test_a_replicaset_owner_names_its_deployment() -> None:
    owner = pod_info("worker-1", "n1", "shop")
    owner["series"][0]["labels"] |= {"created_by_kind": "ReplicaSet", "created_by_name": "checkout-5d8f7c9b4"}
    print_ = footprint(enriched("KubePodNotReady", namespace="shop", pod="worker-1", metrics=[owner]))
    assert "workload=shop/checkout" in print_.entities
    # a ReplicaSet label, and names that only look like a hash
    assert deployment_of("checkout-7d9f8b6c4") == "checkout"
    assert deployment_of("checkout-web") == "checkout-web"


def test_an_alerts_own_words_show_a_failure_class_as_a_log_line_would() -> None:
    probe = enriched(
        "BlackboxProbeFailed",
        instance="https://shop.example.com",
        job="blackbox",
        summary='Probe failed: Get "https://shop.example.com": x509: certificate has expired',
    )
    assert "symptom=certificate" in footprint(probe).entities


def test_a_full_local_disk_needs_a_place_a_full_shared_volume_does_not() -> None:
    local = footprint(enriched("NodeFilesystemSpaceFull", job="node-exporter", instance="10.0.4.4:9100"))
    claim = footprint(
        enriched("KubePersistentVolumeFillingUp", namespace="media", persistentvolumeclaim="up")
    )

    def writer(namespace: str) -> Footprint:
        line = "write /data/x: no space left on device"
        return footprint(enriched("HighErrorRate", service="a", namespace=namespace, logs=(line,)))

    share = footprint(
        enriched("NodeFilesystemSpaceFull", job="node-exporter", instance="10.0.4.4:9100",
                 device="nfs-01:/export", fstype="nfs4", mountpoint="/mnt/export")
    )  # fmt: skip
    assert "symptom=local-disk-full" in local.causes & writer("shop").entities
    assert "symptom=disk-full" not in local.causes
    # a claim is mounted only in its namespace; a network share anywhere
    assert claim.causes & writer("media").entities == {"symptom=disk-full@media"}
    assert not claim.causes & writer("shop").entities
    assert "symptom=disk-full" in share.causes & writer("shop").entities
    # a claim whose PersistentVolume is an NFS share is that share: its writers anywhere
    nfs = {
        "name": "claim_volume",
        "query": "kube_persistentvolume_info * on (persistentvolume) ...",
        "series": [{"labels": {"persistentvolume": "pvc-3f1c", "namespace": "media",
                               "persistentvolumeclaim": "up", "nfs_server": "nfs-01",
                               "nfs_path": "/export/shared"},
                    "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1}],
    }  # fmt: skip
    shared_claim = footprint(
        enriched(
            "KubePersistentVolumeFillingUp", namespace="media", persistentvolumeclaim="up", metrics=[nfs]
        )
    )
    assert "symptom=disk-full" in shared_claim.causes & writer("shop").entities


def test_a_claim_on_an_nfs_share_meets_the_file_servers_exported_filesystem_not_its_root() -> None:
    volume = {
        "name": "claim_volume",
        "query": "kube_persistentvolume_info * on (persistentvolume) ...",
        "series": [
            {
                "labels": {"persistentvolume": "pvc-3f1c", "namespace": "media",
                           "persistentvolumeclaim": "uploads", "nfs_server": "nfs-01.storage.internal",
                           "nfs_path": "/srv/export/shared/media-uploads-pvc-3f1c"},
                "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1,
            }
        ],
    }  # fmt: skip
    claim = footprint(
        enriched("KubePersistentVolumeFillingUp", namespace="media", persistentvolumeclaim="uploads",
                 metrics=[volume])
    )  # fmt: skip
    server_name = "nfs-01.storage.internal"
    assert {name for name in claim.entities if server_name in name} == {
        f"volume={server_name}:/srv/export/shared/media-uploads-pvc-3f1c",
        f"export={server_name}:/srv/export/shared/media-uploads-pvc-3f1c",
        f"export={server_name}:/srv/export/shared",
        f"export={server_name}:/srv/export",
    }
    assert not any("nfs-01" in name for name in claim.causes | claim.subject)
    server = footprint(
        enriched("NodeFilesystemSpaceFull", job="node-exporter", instance=f"{server_name}:9100",
                 mountpoint="/srv/export/shared", fstype="xfs")
    )  # fmt: skip
    # The server's filesystem explains the claim (a cause meeting its directories) ...
    assert f"export={server_name}:/srv/export/shared" in server.causes & claim.entities
    # ... but is no place another alert of that disk, or of a namesake machine, meets.
    assert not any(name.startswith(("export=", "volume=")) for name in server.entities)
    assert not any("=nfs-01:" in name for name in server.causes)
    root = footprint(
        enriched("NodeFilesystemSpaceFull", job="node-exporter", instance=f"{server_name}:9100",
                 mountpoint="/", fstype="ext4")
    )  # fmt: skip
    assert not any(name.startswith("export=") for name in root.causes)


def test_claims_in_sibling_directories_of_one_export_stay_apart() -> None:
    def claim(name: str, path: str) -> schemas.EnrichedAlert:
        labels = {
            "namespace": name,
            "persistentvolumeclaim": "data",
            "nfs_server": "10.0.5.5",
            "nfs_path": path,
        }
        series = {"labels": labels, "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1}
        volume = {"name": "claim_volume", "query": "kube_persistentvolume_info", "series": [series]}
        return enriched("KubePersistentVolumeFillingUp", namespace=name, persistentvolumeclaim="data",
                        metrics=[volume], cluster="prod")  # fmt: skip

    _, (fast, slow) = Correlator(IncidentSettings()).assign(
        OpenIndex(), [claim("team-a", "/srv/fast/a"), claim("team-b", "/srv/slow/b")], T0
    )
    assert fast.incident_id != slow.incident_id


def test_a_probe_of_a_site_is_about_the_service_its_ingress_sends_the_host_to() -> None:
    paths = {
        "name": "ingress_backends",
        "query": 'kube_ingress_path{host="sso.example.com"}',
        "series": [
            {
                "labels": {"namespace": "auth", "ingress": "keycloak", "host": "sso.example.com", "path": "/",
                           "service_name": "keycloak"},
                "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1,
            }
        ],
    }  # fmt: skip
    url = "https://SSO.example.com/realms/prod"
    probe = footprint(enriched("BlackboxProbeFailed", job="blackbox", instance=url, metrics=[paths]))
    assert {"host=sso.example.com", "app=auth/keycloak"} <= probe.entities
    other = footprint(
        enriched("BlackboxProbeFailed", job="blackbox", instance="https://www.example.com", metrics=[paths])
    )
    assert not any(name.startswith("app=") for name in other.entities)


def test_a_probe_is_about_the_backend_of_the_longest_ingress_path_it_falls_under() -> None:
    def route(path: str, service: str) -> dict[str, object]:
        labels = {"namespace": "web", "host": "www.example.com", "path": path, "service_name": service}
        return {"labels": labels, "samples": 1, "min": 1, "max": 1, "mean": 1, "last": 1}

    paths = {
        "name": "ingress_backends",
        "query": "kube_ingress_path",
        "series": [route("/", "site"), route("/admin", "admin")],
    }

    def apps(url: str) -> set[str]:
        print_ = footprint(enriched("BlackboxProbeFailed", job="blackbox", instance=url, metrics=[paths]))
        return {name for name in print_.entities if name.startswith("app=")}

    assert apps("https://www.example.com/healthz") == {"app=web/site"}
    assert apps("https://www.example.com/admin/login") == {"app=web/admin"}
    assert apps("https://www.example.com/administrator") == {"app=web/site"}


# Pieces an alert's text is written from: what each failure class says, numbers standing alone or
# against a word (the DNS port among them), and words of no class.
SAID = (
    "lookup", "db-main", "on", "10.96.0.10", ":53", "53", ":5353", "no such host", "x509", "X509",
    "lookup db-main on 10.96.0.10:", "lookup db on ns:53", "lookup db on ns-2:5353",
    "509", "certificate has expired", "no space left on device", "disk", "full", "connection pool",
    "exhausted", "errimagepull", "704", "0", "90%", "5xx", "node-", "web", "the", "٥٣", "İ",
)  # fmt: skip
SAID_GLUE = (" ", " ", "", ":", ".", "-", "\n")


@pytest.mark.parametrize("seed", range(3))
def test_a_text_with_its_lone_numbers_written_as_0_shows_what_the_text_shows(seed: int) -> None:
    """What lets a storm's summaries (one per subject number) be read once: exact, not close."""
    rnd = random.Random(seed)
    for _ in range(3000):
        text = "".join(rnd.choice(SAID) + rnd.choice(SAID_GLUE) for _ in range(rnd.randint(0, 9)))
        assert text_symptoms(text) == _text_symptoms(text), text


def test_a_storms_summaries_are_read_once_and_the_dns_port_as_written() -> None:
    _text_symptoms.cache_clear()
    for node in range(50):
        assert text_symptoms(f"node-{node}: lookup db on 10.96.0.{node}:53: no such host") == ("dns",)
    assert _text_symptoms.cache_info().misses == 1
    assert text_symptoms("lookup db on 10.96.0.10:5353 failed") == ()
    assert text_symptoms("lookup db on 10.96.0.10:53 failed") == ("dns",)


@pytest.mark.parametrize(
    "pattern",
    [
        r"exit code \d+",
        r"error 50[34]\b",
        r"\b(?:5|6)03\b",
        r"code 5|6",
        r"port 53?\b",
        r"\w{3}",
        r"a..b",
        r"a\Sb",
    ],
)
def test_a_pattern_that_could_tell_numbers_apart_keeps_every_number(pattern: str) -> None:
    numbers = _numbers_read_alike([re.compile(pattern), re.compile(r"\bx509\b")])
    assert numbers.zeroed("exit code 137, error 503 on node-704") == "exit code 137, error 503 on node-704"


def test_numbers_written_whole_are_kept_and_the_others_written_as_0() -> None:
    numbers = _numbers_read_alike([re.compile(r"\bx509\b|\blookup \S+ on \S+:53\b|fuse\.s3fs|.*")])
    assert numbers.zeroed("x509 on node-704:53, ٧٠٤") == "x509 on node-0:53, 0"
