"""Grouping of real failure cascades: what each one's alerts share, and what must stay apart.

Written from how Kubernetes, Prometheus exporters and the cascades work (docs/incidents.md, "How
alerts are grouped"), not from the storm benchmark's scenarios.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import schemas
from services.incidents import Assignment, Correlator, IncidentSettings, OpenIndex
from services.incidents._topology import parse_topology
from tests.unit.incidents._alerts import T0, enriched, pod_info

KSM: dict[str, Any] = {"job": "kube-state-metrics", "instance": "10.9.9.9:8080", "cluster": "prod"}


def _one_by_one(alerts: Sequence[schemas.EnrichedAlert]) -> list[Assignment]:
    """Each alert in its own batch, a second after it starts: as a slow storm reaches the analyst."""
    correlator, index, out = Correlator(IncidentSettings()), OpenIndex(), []
    for alert in alerts:
        index, (assignment,) = correlator.assign(index, [alert], alert.alert.starts_at + timedelta(seconds=1))
        out.append(assignment)
    return out


def _ids(assignments: Sequence[Assignment]) -> list[str]:
    return [assignment.incident_id for assignment in assignments]


def test_a_full_node_of_pods_joins_even_past_the_first_hundred_names() -> None:
    # A node runs up to 110 pods by default; each pod raises two alerts, the second naming only the pod.
    storm = [enriched("KubeNodeNotReady", node="n1", **KSM)]
    for i in range(110):
        pod = f"app{i}-7d9f8b6c4-x2k4q"
        storm.append(enriched("KubePodNotReady", at=1, namespace=f"ns{i % 9}", pod=pod, node="n1", **KSM))
        storm.append(enriched("KubeContainerWaiting", at=2, namespace=f"ns{i % 9}", pod=pod, **KSM))
    index, assignments = Correlator(IncidentSettings()).assign(OpenIndex(), storm, T0 + timedelta(seconds=5))
    assert len(set(_ids(assignments))) == 1
    (entry,) = index.entries
    assert "node=n1" in entry.entities
    assert "node=n1" in entry.causes


def test_every_episode_of_a_flapping_alert_returns_to_its_incident_past_the_window() -> None:
    # A heartbeat with no place at all, and a link flapping on one node: each new episode (new
    # startsAt) minutes apart goes back where the first went; another alert of the node does not.
    heartbeat = [enriched("WatchdogHeartbeatMissing", at=at, cluster="prod") for at in (0, 700, 1400)]
    link = [
        enriched("NodeNetworkInterfaceFlapping", at=at, instance="10.0.1.7:9100", job="node-exporter",
                 device="eth0", cluster="prod")
        for at in (10, 710, 1410)
    ]  # fmt: skip
    other = enriched(
        "NodeHighCpuLoad", at=1420, instance="10.0.1.7:9100", job="node-exporter", cluster="prod"
    )
    alerts = sorted([*heartbeat, *link, other], key=lambda message: message.alert.starts_at)
    by_name: dict[str, set[str]] = {}
    for message, assignment in zip(alerts, _one_by_one(alerts), strict=True):
        by_name.setdefault(message.alert.labels["alertname"], set()).add(assignment.incident_id)
    assert len(by_name["WatchdogHeartbeatMissing"]) == 1
    assert len(by_name["NodeNetworkInterfaceFlapping"]) == 1
    assert by_name["WatchdogHeartbeatMissing"] != by_name["NodeNetworkInterfaceFlapping"]
    assert by_name["NodeHighCpuLoad"].isdisjoint(by_name["NodeNetworkInterfaceFlapping"])


def test_a_job_label_alone_links_nothing() -> None:
    # node_exporter scraped as job "node" on two machines: a VM down, another machine's disk full
    _, (down, disk) = Correlator(IncidentSettings()).assign(
        OpenIndex(),
        [
            enriched("InstanceDown", expr="up == 0", job="node", instance="vm-app-3:9100"),
            enriched("NodeFilesystemSpaceFull", at=5, job="node", instance="db-2:9100", mountpoint="/"),
        ],
        T0 + timedelta(seconds=10),
    )
    assert down.incident_id != disk.incident_id


def test_an_aggregated_target_down_joins_the_pods_of_its_service() -> None:
    # kube-prometheus's TargetDown is by job, namespace and service: no instance
    storm = [
        enriched("KubePodCrashLooping", namespace="shop", pod="cart-7d9f8b6c4-x2k4q", **KSM),
        enriched("TargetDown", at=20, expr="100 * (count(up == 0) BY (job, namespace, service)) > 10",
                 job="cart", namespace="shop", cluster="prod"),
        enriched("TargetDown", at=25, job="search", namespace="shop", cluster="prod"),
    ]  # fmt: skip
    crash, target, other = _one_by_one(storm)
    assert target.incident_id == crash.incident_id
    assert other.incident_id != crash.incident_id


def test_a_deployment_alert_joins_pods_its_replicaset_owns() -> None:
    owner = pod_info("worker-1", "ip-10-0-1-7", "shop")
    owner["series"][0]["labels"] |= {"created_by_kind": "ReplicaSet", "created_by_name": "checkout-7d9f8b6c4"}
    storm = [
        enriched("KubeDeploymentReplicasMismatch", namespace="shop", deployment="checkout", **KSM),
        enriched("KubePodNotReady", at=10, namespace="shop", pod="worker-1", metrics=[owner], **KSM),
    ]
    deployment, pod = _one_by_one(storm)
    assert pod.incident_id == deployment.incident_id
    assert "workload" in pod.signals


def test_a_pods_crash_loop_firing_minutes_after_its_oom_kill_joins_it() -> None:
    # KubePodCrashLooping waits `for: 15m`: it fires long after the OOM kill of the same pod
    pod = {"namespace": "shop", "pod": "cart-7d9f8b6c4-x2k4q"}
    storm = [
        enriched("KubeContainerOOMKilled", labels=pod, **KSM),
        enriched("KubePodCrashLooping", at=900, labels=pod, **KSM),
        enriched("KubePodNotReady", at=905, namespace="shop", pod="search-5f6b7c8d9-q7w2z", **KSM),
    ]
    oom, crash, other = _one_by_one(storm)
    assert crash.incident_id == oom.incident_id
    assert other.incident_id != oom.incident_id


def test_a_cause_in_the_logs_beats_a_shared_workload() -> None:
    # one Deployment: a replica dies with its node, another fails on the cache at the same minute
    storm = [
        enriched("KubeNodeNotReady", node="n1", **KSM),
        enriched("KubePodNotReady", at=2, namespace="shop", pod="cart-7d9f8b6c4-aaaaa", node="n1", **KSM),
        enriched("RedisDown", at=3, job="redis-exporter", instance="redis-cart:9121", namespace="shop",
                 cluster="prod"),
        enriched("KubePodCrashLooping", at=6, namespace="shop", pod="cart-7d9f8b6c4-bbbbb", node="n2",
                 logs=("dial tcp redis-cart:6379: connect: connection refused",), **KSM),
    ]  # fmt: skip
    node, on_node, redis, on_cache = _one_by_one(storm)
    assert on_node.incident_id == node.incident_id
    assert on_cache.incident_id == redis.incident_id != node.incident_id


def test_kafka_clients_and_lagging_consumers_join_the_broker_down() -> None:
    storm = [
        enriched("KafkaBrokerDown", expr='up{job="kafka-jmx"} == 0', namespace="data", pod="kafka-1",
                 job="kafka-jmx", instance="10.2.3.4:5556", cluster="prod"),
        # a producer addresses the broker by the StatefulSet pod's DNS name
        enriched("HighErrorRate", at=20, namespace="shop", service="orders", cluster="prod", logs=(
            "[Producer clientId=orders] Connection to node 1 (kafka-1.kafka-headless.data.svc.cluster.local/"
            "10.2.3.4:9092) could not be established. Broker may not be available.",
        )),
        enriched("KafkaConsumerGroupLag", at=60, namespace="data", job="kafka-exporter",
                 consumergroup="billing", topic="orders", instance="10.2.9.9:9308", cluster="prod"),
        enriched("KubePodCrashLooping", at=30, namespace="web", pod="frontend-7d9f8b6c4-x2k4q", **KSM),
    ]  # fmt: skip
    broker, producer, lag, other = _one_by_one(storm)
    assert broker.incident_id == producer.incident_id == lag.incident_id
    assert "dependency" in producer.signals
    assert other.incident_id != broker.incident_id


def test_an_etcd_member_at_a_nodes_address_joins_that_nodes_outage() -> None:
    storm = [
        enriched("KubeNodeNotReady", node="ip-10-0-1-5.eu-west-1.compute.internal", **KSM),
        enriched("etcdMembersDown", at=20, job="etcd", instance="10.0.1.5:2379", cluster="prod"),
        # a pod's own address is no node's
        enriched("TargetDown", at=25, expr="up == 0", job="api", instance="10.2.0.9:8080", cluster="prod"),
    ]
    node, etcd, target = _one_by_one(storm)
    assert etcd.incident_id == node.incident_id
    assert target.incident_id != node.incident_id


def test_a_bad_release_groups_its_services_across_namespaces() -> None:
    panic = (
        "panic: runtime error: invalid memory address or nil pointer dereference [signal SIGSEGV addr=0x18]"
    )
    storm = [
        enriched("HighErrorRate", namespace="shop", service="cart", version="v2.14.0", cluster="prod",
                 logs=(panic,)),
        enriched("HighErrorRate", at=20, namespace="pay", service="ledger", version="v2.14.0", cluster="prod",
                 logs=(panic.replace("0x18", "0x40"),)),
        # then the release alone (the first two made it a suspected cause), or the same panic alone
        enriched("HighLatency", at=40, namespace="auth", service="login", version="v2.14.0", cluster="prod"),
        enriched("KubePodCrashLooping", at=45, namespace="search", pod="search-5f6b7c8d9-q7w2z",
                 logs=(panic,), **KSM),
        # another release failing with its own error at the same time: apart
        enriched("HighErrorRate", at=50, namespace="blog", service="cms", version="v1.3.7", cluster="prod",
                 logs=("ERROR template header.html not found in theme directory",)),
    ]  # fmt: skip
    cart, ledger, login, search, cms = _one_by_one(storm)
    assert cart.incident_id == ledger.incident_id == login.incident_id == search.incident_id
    assert cms.incident_id != cart.incident_id


def test_two_services_on_one_release_without_a_common_error_stay_apart() -> None:
    storm = [
        enriched("HighErrorRate", namespace="shop", service="cart", version="v2.14.0", cluster="prod"),
        enriched("HighLatency", at=20, namespace="pay", service="ledger", version="v2.14.0", cluster="prod"),
    ]
    cart, ledger = _one_by_one(storm)
    assert cart.incident_id != ledger.incident_id


def test_probes_of_one_site_failing_together_are_one_incident() -> None:
    def probe(instance: str, at: float = 0.0) -> schemas.EnrichedAlert:
        return enriched(
            "BlackboxProbeFailed",
            at=at,
            instance=instance,
            job="blackbox",
            cluster="prod",
            expr="probe_success == 0",
        )

    storm = [
        probe("https://shop.example.com"),
        probe("https://api.example.com/health", at=15),
        probe("https://status.other-vendor.io", at=20),
        # a partner's client refusing the certificate
        enriched("HighErrorRate", at=40, namespace="partner", service="sync", cluster="prod", logs=(
            'Post "https://api.example.com/v1/orders": x509: certificate has expired or is not yet valid',
        )),
    ]  # fmt: skip
    shop, api, vendor, partner = _one_by_one(storm)
    assert shop.incident_id == api.incident_id == partner.incident_id
    assert vendor.incident_id != shop.incident_id


def test_haproxy_alerts_of_one_backend_join_the_server_that_is_down() -> None:
    storm = [
        enriched("InstanceDown", expr="up == 0", job="node", instance="vm-app-3:9100"),
        enriched(
            "HAProxyServerDown", at=20, job="haproxy", instance="lb-1:8405", proxy="app", server="vm-app-3"
        ),
        enriched("HAProxyBackendHttpErrors", at=30, job="haproxy", instance="lb-1:8405", proxy="app"),
        enriched("HAProxyBackendHttpErrors", at=35, job="haproxy", instance="lb-1:8405", proxy="admin"),
    ]
    vm, server, errors, other = _one_by_one(storm)
    assert vm.incident_id == server.incident_id == errors.incident_id
    assert other.incident_id != vm.incident_id


def test_a_full_volume_explains_its_writers_but_two_full_disks_stay_apart() -> None:
    storm = [
        enriched("KubePersistentVolumeFillingUp", namespace="media", persistentvolumeclaim="uploads", **KSM),
        enriched("HighErrorRate", at=20, namespace="media", service="uploader", cluster="prod",
                 logs=("write /data/uploads/x.jpg: no space left on device",)),
        enriched("NodeFilesystemSpaceFull", at=25, job="node-exporter", instance="10.0.4.4:9100",
                 mountpoint="/var/log", cluster="prod"),
    ]  # fmt: skip
    volume, writer, disk = _one_by_one(storm)
    assert writer.incident_id == volume.incident_id
    assert disk.incident_id != volume.incident_id


def test_an_alert_of_a_batch_joins_the_incident_a_later_alert_of_the_same_batch_ties_it_to() -> None:
    # A zone's node is down. In one Alertmanager notification: "etcd members down" (no instance,
    # nothing of the node), then an etcd member failing to reach the downed node's address, which
    # belongs to the node's outage and is the same etcd as the first.
    correlator = Correlator(IncidentSettings())
    node = enriched("KubeNodeNotReady", node="ip-10-0-2-12.eu-west-1.compute.internal", **KSM)
    index, (down,) = correlator.assign(OpenIndex(), [node], T0 + timedelta(seconds=5))
    members_down = enriched(
        "etcdMembersDown", at=20, summary="etcd cluster members are down.", job="etcd",
        namespace="kube-system", cluster="prod",
    )  # fmt: skip
    failing = enriched(
        "etcdHighNumberOfFailedGRPCRequests", at=25, job="etcd", instance="10.0.1.21:2379",
        namespace="kube-system", cluster="prod",
        logs=("rafthttp: failed to dial 4f2d on stream MsgApp v2 (dial tcp 10.0.2.12:2380: i/o timeout)",),
    )  # fmt: skip
    unrelated = enriched("KubeJobFailed", at=22, namespace="reporting", job_name="export-1", **KSM)
    index, batch = correlator.assign(index, [members_down, failing, unrelated], T0 + timedelta(seconds=50))
    sent = [members_down, failing, unrelated]
    by_name = {m.alert.labels["alertname"]: a for m, a in zip(sent, batch, strict=True)}
    assert by_name["etcdHighNumberOfFailedGRPCRequests"].incident_id == down.incident_id
    assert by_name["etcdMembersDown"].incident_id == down.incident_id
    assert not by_name["etcdMembersDown"].opened
    assert by_name["KubeJobFailed"].incident_id != down.incident_id
    assert by_name["KubeJobFailed"].opened
    # The incident etcdMembersDown opened for a moment is not in the index.
    assert {entry.id for entry in index.entries} == {down.incident_id, by_name["KubeJobFailed"].incident_id}


def test_an_alert_that_opened_an_incident_others_of_its_batch_joined_keeps_it() -> None:
    # A pod's two alerts open and join one incident; a sibling placed on the downed node ties their
    # workload to the node's outage, yet the incident they share stays theirs (its members went
    # there, and an incident is never emptied under them).
    correlator = Correlator(IncidentSettings())
    index, (down,) = correlator.assign(OpenIndex(), [enriched("KubeNodeNotReady", node="n1", **KSM)], T0)
    pod, sibling = "cart-7d9f8b6c4-x2k4q", "cart-7d9f8b6c4-b8n2m"
    batch = [
        enriched("KubePodNotReady", at=5, namespace="shop", pod=pod, cluster="prod"),
        enriched("KubePodCrashLooping", at=6, namespace="shop", pod=pod, cluster="prod"),
        enriched("KubePodNotReady", at=7, namespace="shop", pod=sibling, cluster="prod",
                 metrics=[pod_info(sibling, "n1", "shop")]),
    ]  # fmt: skip
    index, (opened, joined, placed) = correlator.assign(index, batch, T0 + timedelta(seconds=30))
    assert placed.incident_id == down.incident_id
    assert opened.opened
    assert joined.incident_id == opened.incident_id != down.incident_id
    assert opened.incident_id in {entry.id for entry in index.entries}


def test_an_alert_is_not_moved_into_an_incident_a_later_alert_of_its_batch_opened() -> None:
    # The analyst applies a batch's joins by start time: an earlier alert moved into an incident a
    # later one opened would reach the incident's state before its opener and take its root.
    correlator = Correlator(IncidentSettings())
    members_down = enriched(
        "etcdMembersDown", at=20, summary="etcd cluster members are down.", job="etcd",
        namespace="kube-system", cluster="prod",
    )  # fmt: skip
    node = enriched("KubeNodeNotReady", at=22, node="ip-10-0-2-12.eu-west-1.compute.internal", **KSM)
    failing = enriched(
        "etcdHighNumberOfFailedGRPCRequests", at=25, job="etcd", instance="10.0.1.21:2379",
        namespace="kube-system", cluster="prod",
        logs=("rafthttp: failed to dial 4f2d on stream MsgApp v2 (dial tcp 10.0.2.12:2380: i/o timeout)",),
    )  # fmt: skip
    index, (first, down, joined) = correlator.assign(
        OpenIndex(), [members_down, node, failing], T0 + timedelta(seconds=50)
    )
    assert joined.incident_id == down.incident_id
    assert first.opened
    assert first.incident_id != down.incident_id
    assert {a.incident_id for a in (first, down, joined)} <= {entry.id for entry in index.entries}


def test_a_redis_down_explains_the_services_that_dial_it_not_those_whose_redis_is_elsewhere() -> None:
    # The cache namespace's Redis crash-loops. checkout dials it by its namespaced name; payments dials
    # its own namespace's redis-master; billing fails on "redis" without saying which.
    redis_down = enriched(
        "KubePodCrashLooping", namespace="cache", pod="redis-5c7d9b8f6-kq2zx", **KSM,
        logs=("Fatal error, can't open config file '/etc/redis/redis.conf': Permission denied",),
    )  # fmt: skip

    def failing(at: int, namespace: str, service: str, line: str) -> schemas.EnrichedAlert:
        return enriched(
            "HighErrorRate", at=at, namespace=namespace, service=service, cluster="prod", logs=(line,)
        )

    checkout = failing(10, "shop", "checkout", "dial tcp redis.cache.svc:6379: connect: connection refused")
    payments = failing(20, "payments", "payments", "dial tcp redis-master:6379: connect: connection refused")
    billing = failing(30, "billing", "billing", "redis: connection pool timeout")
    # an address says nothing of where it is; a managed Redis outside, by its port, is not the pod's
    search = failing(40, "search", "search", "dial tcp 10.96.4.12:6379: connect: connection refused")
    sessions = failing(
        50, "web", "sessions", "Cache connection failed: Connection refused (cache.internal:6379)"
    )
    ids = _ids(_one_by_one([redis_down, checkout, payments, billing, search, sessions]))
    assert ids[1] == ids[0], "checkout dials the Redis that is down"
    assert ids[3] == ids[0], "billing names no Redis: the one down explains it"
    assert ids[4] == ids[0], "search names an address only"
    assert ids[2] != ids[0], "payments' Redis is its own namespace's redis-master"
    assert ids[5] not in (ids[0], ids[2]), "sessions' Redis is outside the cluster"


def test_two_services_failing_each_on_its_own_redis_stay_apart() -> None:
    # The same Go error, masked alike, from two namespaces: each dials its own Redis. The error line and
    # the technology would reach the threshold; each names what it fails on, and that is not in the
    # other's incident.
    line = "dial tcp {}:6379: connect: connection refused"
    web = enriched("HighErrorRate", namespace="web", service="sessions", cluster="prod",
                   logs=(line.format("sessions-redis"),))  # fmt: skip
    shop = enriched("HighErrorRate", at=10, namespace="shop", service="cart", cluster="prod",
                    logs=(line.format("cart-redis"),))  # fmt: skip
    ids = _ids(_one_by_one([web, shop]))
    assert ids[1] != ids[0]


def test_a_pods_crash_loop_naming_its_database_joins_that_pods_earlier_alert() -> None:
    # The same pod, not ready, then crash-looping on its database: one story, whatever it names.
    pod = {"namespace": "shop", "pod": "checkout-7d9f8b6c4-q2w8z"}
    not_ready = enriched("KubePodNotReady", labels=pod, **KSM)
    crash = enriched(
        "KubePodCrashLooping", at=60, labels=pod, **KSM, logs=("Connection refused (db-main:5432)",)
    )
    ids = _ids(_one_by_one([not_ready, crash]))
    assert ids[1] == ids[0]


def test_a_service_name_in_two_namespaces_is_two_services() -> None:
    # Every team has a "frontend": two namespaces' error rates at once are two stories; the same
    # namespace's latency joins its errors, and so does an alert naming the service without a namespace.
    web = enriched("HTTPErrorsHigh", namespace="web", service="frontend", cluster="prod")
    shop = enriched("HTTPErrorsHigh", at=10, namespace="shop", service="frontend", cluster="prod")
    latency = enriched("HTTPLatencyHigh", at=20, namespace="web", service="frontend", cluster="prod")
    mesh = enriched("RequestsFailing", at=30, service="frontend", cluster="prod")
    ids = _ids(_one_by_one([web, shop, latency, mesh]))
    assert ids[1] != ids[0]
    assert ids[2] == ids[0]
    assert ids[3] in (ids[0], ids[1])


def test_a_probe_scraped_in_the_monitoring_namespace_still_meets_the_service_it_probes() -> None:
    # A blackbox exporter's alert carries the exporter's namespace, not the probed service's.
    topology = parse_topology({"services": {"frontend": {"hosts": ["shop.example.com"]}}})
    web = enriched("HTTPErrorsHigh", namespace="web", service="frontend", cluster="prod")
    probe = enriched("BlackboxProbeFailed", at=10, job="blackbox-exporter", namespace="monitoring",
                     instance="https://shop.example.com", cluster="prod")  # fmt: skip
    index, correlator = OpenIndex(), Correlator(IncidentSettings(), topology)
    ids = []
    for alert in (web, probe):
        index, (assignment,) = correlator.assign(index, [alert], alert.alert.starts_at + timedelta(seconds=1))
        ids.append(assignment.incident_id)
    assert ids[1] == ids[0]


def test_a_namespace_written_in_capitals_is_the_same_namespace() -> None:
    first = enriched("HighErrorRate", namespace="Payments", service="api", cluster="prod")
    second = enriched("HighErrorRate", at=10, namespace="Payments", service="api", upstream_service="ledger",
                      cluster="prod")  # fmt: skip
    ids = _ids(_one_by_one([first, second]))
    assert ids[1] == ids[0]


def test_a_redis_clients_exhausted_pool_is_not_explained_by_postgresqls_connection_limit() -> None:
    too_many = enriched("PostgresqlTooManyConnections", job="postgres-exporter", namespace="data",
                        instance="10.1.3.4:9187", cluster="prod")  # fmt: skip
    redis_pool = enriched("HighErrorRate", at=10, namespace="shop", service="cart", cluster="prod",
                          logs=("redis: connection pool timeout",))  # fmt: skip
    some_pool = enriched("HighErrorRate", at=20, namespace="billing", service="ledger", cluster="prod",
                         logs=("error: connection pool exhausted while acquiring a connection",))  # fmt: skip
    ids = _ids(_one_by_one([too_many, redis_pool, some_pool]))
    assert ids[1] != ids[0], "the cart's pool is a Redis client's"
    assert ids[2] == ids[0], "a pool exhausted on no named technology: the database's limit explains it"


def test_a_certificate_that_will_expire_soon_explains_x509_errors_only_where_it_is() -> None:
    # "Expires in 11 days" explains no x509 error of another team's pod now; in its own namespace, the
    # proxies failing on the issuer it warned of are its story.
    soon = enriched("CertManagerCertExpirySoon", namespace="linkerd", name="linkerd-identity-issuer",
                    job="cert-manager", cluster="prod", summary="It expires in 11 days.")  # fmt: skip
    line = "x509: certificate signed by unknown authority"
    elsewhere = enriched("KubePodCrashLooping", at=10, namespace="billing", pod="invoicer-5c7d9b8f6-kq2zx",
                         logs=(line,), **KSM)  # fmt: skip
    here = enriched("KubePodCrashLooping", at=20, namespace="linkerd", pod="linkerd-identity-6f8b7d9c5-px2nm",
                    logs=(line,), **KSM)  # fmt: skip
    ids = _ids(_one_by_one([soon, elsewhere, here]))
    assert ids[1] != ids[0]
    assert ids[2] == ids[0]
