"""Correlation: one cause's alerts in one incident, coincidences apart, the cause named as root."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec

import schemas
from services.incidents import Assignment, Correlator, IncidentSettings, OpenIndex
from services.incidents._index import MAX_CAUSES, MAX_ENTITIES, MAX_PER_KIND
from services.incidents._topology import parse_topology
from tests.unit.incidents._alerts import T0, enriched, pod_info

NOW = T0 + timedelta(seconds=60)
KSM: dict[str, Any] = {"job": "kube-state-metrics", "instance": "10.9.9.9:8080", "cluster": "prod"}


def _assign(
    messages: Sequence[schemas.EnrichedAlert],
    correlator: Correlator | None = None,
    index: OpenIndex | None = None,
) -> tuple[OpenIndex, list[Assignment]]:
    return (correlator or Correlator(IncidentSettings())).assign(index or OpenIndex(), messages, NOW)


def _incidents(assignments: list[Assignment]) -> set[str]:
    return {assignment.incident_id for assignment in assignments}


def test_a_dead_node_its_pods_and_targets_are_one_incident_rooted_at_the_node() -> None:
    storm = [
        enriched(
            "KubePodNotReady", at=0, namespace="shop", pod="cart-7d9f8b6c4-x2k4q", node="ip-10-0-1-7", **KSM
        ),
        # placed on the node by kube_pod_info in its evidence only
        enriched(
            "KubePodNotReady",
            at=4,
            namespace="pay",
            pod="ledger-0",
            metrics=[pod_info("ledger-0", "ip-10-0-1-7", "pay")],
            **KSM,
        ),
        enriched(
            "TargetDown",
            at=8,
            expr="up == 0",
            job="cart",
            instance="10.2.0.9:8080",
            node="ip-10-0-1-7",
            cluster="prod",
        ),
        enriched("KubeNodeNotReady", at=12, node="ip-10-0-1-7", **KSM),
        # a crash loop on another node at the same moment is another incident
        enriched(
            "KubePodCrashLooping",
            at=6,
            namespace="shop",
            pod="search-5f6b7c8d9-q7w2z",
            node="ip-10-0-2-9",
            **KSM,
        ),
    ]
    _, assignments = _assign(storm)
    node_incident = {a.incident_id for a in assignments[:4]}
    assert len(node_incident) == 1
    assert assignments[4].incident_id not in node_incident
    node = assignments[3]
    assert node.role == "root"
    assert node.new_root
    assert "node" in node.signals


def test_a_database_outage_groups_dependants_found_by_label_by_log_and_by_topology_file() -> None:
    topology = parse_topology({"services": {"orders": {"depends_on": ["db-main"]}}})
    storm = [
        enriched(
            "HighErrorRate", at=0, namespace="shop", service="checkout", upstream="db-main", cluster="prod"
        ),
        enriched(
            "HighLatency",
            at=3,
            namespace="shop",
            service="cart",
            cluster="prod",
            logs=("dial tcp db-main.data.svc.cluster.local:5432: connect: connection refused",),
        ),
        enriched(
            "HighErrorRate",
            at=5,
            namespace="billing",
            service="invoices",
            cluster="prod",
            logs=(
                'could not connect to server: Connection refused\n\tIs the server running on host "db-main"',
            ),
        ),
        # the topology file alone links a dependant to a failing database, never to other dependants
        enriched("KubePodCrashLooping", at=25, namespace="billing", pod="orders-7d9f8b6c4-x2k4q", **KSM),
        enriched(
            "PostgresqlDown",
            at=20,
            instance="db-main:9187",
            job="postgres-exporter",
            namespace="data",
            cluster="prod",
        ),
        # latency of a service that needs nothing of the database, at the same time and place
        enriched("HighLatency", at=4, namespace="shop", service="search", cluster="prod"),
    ]
    _, assignments = _assign(storm, Correlator(IncidentSettings(), topology))
    assert len(_incidents(assignments[:5])) == 1
    assert assignments[5].incident_id not in _incidents(assignments[:5])
    database = assignments[4]
    assert database.role == "root"
    assert database.new_root
    assert [a.signals[0] for a in assignments[1:4]] == ["dependency"] * 3
    assert assignments[3].role == "caused"


def test_dependants_arriving_after_the_database_are_caused_by_it() -> None:
    storm = [
        enriched(
            "RedisDown", at=0, expr="redis_up == 0", instance="redis-cart:9121", job="redis", cluster="prod"
        ),
        enriched(
            "HighErrorRate",
            at=30,
            service="cart",
            cluster="prod",
            logs=("dial tcp redis-cart:6379: i/o timeout",),
        ),
    ]
    _, assignments = _assign(storm)
    assert assignments[1].incident_id == assignments[0].incident_id
    assert (assignments[0].role, assignments[1].role) == ("root", "caused")


def test_unrelated_alerts_at_the_same_time_in_one_cluster_stay_apart() -> None:
    storm = [
        enriched("KubePodCrashLooping", at=0, namespace="shop", pod="cart-7d9f8b6c4-x2k4q", node="n1", **KSM),
        enriched("HighLatency", at=1, namespace="search", service="search", cluster="prod"),
        enriched(
            "NodeHighCPU", at=2, node="n2", instance="10.0.2.2:9100", job="node-exporter", cluster="prod"
        ),
    ]
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 3


def test_one_namespace_is_not_enough() -> None:
    storm = [
        enriched("KubePodCrashLooping", at=0, namespace="shop", pod="cart-7d9f8b6c4-x2k4q", **KSM),
        enriched(
            "ContainerHighMemory",
            at=2,
            namespace="shop",
            pod="payments-0",
            container="payments",
            cluster="prod",
        ),
        enriched("HighErrorRate", at=3, namespace="shop", service="reviews", cluster="prod"),
    ]
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 3


def test_the_override_label_joins_what_shares_nothing_else() -> None:
    storm = [
        enriched(
            "DeployFailed", at=0, namespace="shop", service="cart", incident_key="change-4711", cluster="prod"
        ),
        enriched(
            "HighErrorRate",
            at=200,
            namespace="billing",
            service="invoices",
            incident_key="change-4711",
            cluster="prod",
        ),
        enriched("HighErrorRate", at=201, namespace="billing", service="invoices", cluster="prod"),
    ]
    _, assignments = _assign(storm)
    assert assignments[1].incident_id == assignments[0].incident_id
    assert assignments[1].signals == ("override",)
    assert assignments[2].incident_id != assignments[0].incident_id


def test_a_root_arriving_after_its_symptoms_becomes_the_root_in_a_later_batch() -> None:
    correlator = Correlator(IncidentSettings())
    pods = [
        enriched("KubePodNotReady", at=0, namespace="shop", pod="cart-7d9f8b6c4-x2k4q", node="n1", **KSM),
        enriched("KubePodNotReady", at=3, namespace="pay", pod="ledger-0", node="n1", **KSM),
    ]
    index, first = correlator.assign(OpenIndex(), pods, NOW)
    node = enriched(
        "KubeNodeNotReady", at=50, node="n1", summary="Node n1 has been unready for 15 minutes", **KSM
    )
    index, (late,) = correlator.assign(index, [node], NOW + timedelta(seconds=10))
    assert len(_incidents([*first, late])) == 1
    assert late.new_root
    assert late.role == "root"
    assert not late.opened
    (entry,) = index.entries
    assert entry.root_alert == schemas.episode_key(node.alert)
    assert entry.member_count == 3


def test_the_index_round_trips_through_json_and_matches_the_same() -> None:
    correlator = Correlator(IncidentSettings())
    index, _ = correlator.assign(OpenIndex(), [enriched("KubeNodeNotReady", node="n1", **KSM)], NOW)
    decoded = msgspec.json.decode(msgspec.json.encode(index), type=OpenIndex)
    assert decoded == index
    pod = enriched("KubePodNotReady", at=5, namespace="shop", pod="cart-0", node="n1", **KSM)
    assert correlator.assign(decoded, [pod], NOW)[1] == correlator.assign(index, [pod], NOW)[1]


def test_same_input_same_ids_whatever_the_order_in_the_batch() -> None:
    storm = [
        enriched("KubeNodeNotReady", at=0, node="n1", **KSM),
        enriched("KubePodNotReady", at=5, namespace="shop", pod="cart-0", node="n1", **KSM),
        enriched("HighLatency", at=6, service="search", cluster="prod"),
    ]
    _, first = _assign(storm)
    _, again = _assign(list(reversed(storm)))
    assert first == list(reversed(again))
    expected = "inc-" + hashlib.sha256(schemas.episode_key(storm[0].alert).encode()).hexdigest()[:12]
    assert first[0].incident_id == first[1].incident_id == expected


def test_alerts_placed_nowhere_stay_alone() -> None:
    group = {"group_key": '{}:{alertname="Watchdog"}', "group_labels": {"alertname": "Watchdog"}}
    storm = [
        enriched("Watchdog", at=0, group=group, cluster="prod"),
        enriched("Watchdog", at=1, group=group, cluster="prod", replica="b"),
    ]
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 2


def test_a_start_in_the_future_or_the_far_past_counts_as_now() -> None:
    correlator = Correlator(IncidentSettings())
    future = enriched("KubeNodeNotReady", at=86_400, node="n1", **KSM)
    past = enriched("KubePodNotReady", at=-86_400, namespace="shop", pod="cart-0", node="n1", **KSM)
    index, assignments = correlator.assign(OpenIndex(), [future, past], NOW)
    assert len(_incidents(assignments)) == 1
    (entry,) = index.entries
    assert entry.opened_at == entry.last_at == NOW


def test_different_clusters_never_meet_and_a_resolved_incident_reopens() -> None:
    correlator = Correlator(IncidentSettings())
    index, (first,) = correlator.assign(OpenIndex(), [enriched("KubeNodeNotReady", node="n1", **KSM)], NOW)
    other_cluster = enriched(
        "KubePodNotReady", at=5, namespace="shop", pod="cart-0", node="n1", **{**KSM, "cluster": "staging"}
    )
    assert correlator.assign(index, [other_cluster], NOW)[1][0].incident_id != first.incident_id
    resolved = OpenIndex(
        entries=[msgspec.structs.replace(index.entries[0], status="resolved", resolved_at=NOW)]
    )
    later = NOW + timedelta(seconds=900)
    again = enriched("KubeNodeNotReady", at=960, node="n1", **KSM)
    index, (reopened,) = correlator.assign(resolved, [again], later)
    assert (reopened.incident_id, reopened.reopened) == (first.incident_id, True)
    assert index.entries[0].status == "open"
    # past INCIDENT_REOPEN_SECONDS the incident is gone from the index: a new one opens
    much_later = NOW + timedelta(seconds=4000)
    index, (fresh,) = correlator.assign(
        resolved, [enriched("KubeNodeNotReady", at=4000, node="n1", **KSM)], much_later
    )
    assert fresh.opened
    assert fresh.incident_id != first.incident_id
    assert len(index.entries) == 1


def test_a_storm_of_thousands_keeps_the_index_entry_small() -> None:
    correlator = Correlator(IncidentSettings())
    index, _ = correlator.assign(OpenIndex(), [enriched("KubeNodeNotReady", node="n1", **KSM)], NOW)
    pods = [
        enriched("KubePodNotReady", at=i % 50, namespace=f"ns{i % 40}", pod=f"app{i}-0", node="n1", **KSM)
        for i in range(3000)
    ]
    index, assignments = correlator.assign(index, pods, NOW)
    assert len(_incidents(assignments)) == 1
    (entry,) = index.entries
    assert entry.member_count == 3001
    kinds = Counter(name.split("=", 1)[0] for name in entry.entities)
    assert len(entry.entities) <= MAX_ENTITIES
    assert max(kinds.values()) <= MAX_PER_KIND  # 3000 pods, apps, rules ...: each kind capped
    assert len(entry.causes) <= MAX_CAUSES
    # the pods filled their share, not the node's: it stays, and so does the cause
    assert {"node=n1", "namespace=ns39"} <= set(entry.entities)
    assert "node=n1" in entry.causes
    assert len(msgspec.json.encode(index)) < 48_000


def test_services_sharing_only_a_declared_dependency_stay_apart_until_it_fails() -> None:
    topology = parse_topology(
        {"services": {"orders": {"depends_on": ["db-main"]}, "cart": {"depends_on": ["db-main"]}}}
    )
    correlator = Correlator(IncidentSettings(), topology)
    storm = [
        enriched("HighLatency", at=0, service="orders", cluster="prod"),
        enriched("HighErrorRate", at=2, service="cart", cluster="prod"),
    ]
    index, apart = correlator.assign(OpenIndex(), storm, NOW)
    assert len(_incidents(apart)) == 2
    database = enriched(
        "PostgresqlDown", at=5, instance="db-main:9187", job="postgres-exporter", cluster="prod"
    )
    _, (joined,) = correlator.assign(index, [database], NOW)
    assert joined.incident_id in _incidents(apart)
    assert joined.new_root


def test_pods_on_one_node_reported_by_its_kubelet_are_not_one_incident() -> None:
    storm = [
        enriched(
            "CPUThrottlingHigh",
            at=0,
            namespace="shop",
            pod="cart-0",
            job="kubelet",
            instance="10.0.1.7:10250",
            cluster="prod",
        ),
        enriched(
            "KubeJobFailed",
            at=3,
            namespace="shop",
            job_name="report-29",
            job="kube-state-metrics",
            cluster="prod",
        ),
        enriched(
            "ContainerHighMemory",
            at=4,
            namespace="shop",
            pod="search-0",
            job="kubelet",
            instance="10.0.1.7:10250",
            cluster="prod",
        ),
    ]
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 3


def test_a_workload_crashing_and_its_services_errors_are_one_incident() -> None:
    storm = [
        enriched("KubePodCrashLooping", at=0, namespace="shop", pod="checkout-7d9f8b6c4-x2k4q", **KSM),
        enriched("HighErrorRate", at=20, namespace="shop", service="checkout", cluster="prod"),
        enriched("KubePodCrashLooping", at=25, namespace="shop", pod="cart-5c6d7f8b9-q2w4z", **KSM),
    ]
    _, assignments = _assign(storm)
    assert assignments[1].incident_id == assignments[0].incident_id
    assert "workload" in assignments[1].signals
    assert assignments[2].incident_id != assignments[0].incident_id


def test_services_failing_on_a_technology_join_the_alert_about_it() -> None:
    storm = [
        enriched(
            "HighErrorRate", at=0, service="cart", cluster="prod", logs=("redis: connection pool timeout",)
        ),
        enriched(
            "RedisDown", at=10, expr="redis_up == 0", instance="10.0.9.9:9121", job="redis", cluster="prod"
        ),
        enriched(
            "HighErrorRate",
            at=20,
            service="session",
            cluster="prod",
            logs=("READONLY: redis connection lost",),
        ),
    ]
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 1
    assert assignments[1].new_root
    assert assignments[2].role == "caused"
    assert assignments[2].signals[0] == "technology"


def test_services_failing_name_resolution_are_one_incident_with_the_resolver() -> None:
    storm = [
        enriched("HighErrorRate", at=0, namespace="shop", service="cart", cluster="prod",
                 logs=("dial tcp: lookup redis-cart: no such host",)),
        enriched("HighErrorRate", at=5, namespace="billing", service="invoices", cluster="prod",
                 logs=("getaddrinfo EAI_AGAIN payments.billing.svc",)),
        enriched("CoreDNSDown", at=30, namespace="kube-system", job="coredns", cluster="prod"),
    ]  # fmt: skip
    _, assignments = _assign(storm)
    assert len(_incidents(assignments)) == 1
    assert assignments[1].signals[0] == "symptom"
    assert assignments[2].new_root


def test_one_rule_in_one_namespace_needs_one_more_sign() -> None:
    def crash(pod: str, at: float, **labels: str) -> schemas.EnrichedAlert:
        return enriched("KubePodCrashLooping", at=at, namespace="shop", pod=pod, labels=labels, **KSM)

    assert len(_incidents(_assign([crash("cart-0", 0), crash("search-0", 5)])[1])) == 2
    release = "2026.03.02-1"  # both rolled out in one release
    rolled = [crash("cart-0", 0, version=release), crash("search-0", 5, version=release)]
    _, assignments = _assign(rolled)
    assert len(_incidents(assignments)) == 1
    assert assignments[1].signals[:2] == ("release", "alertname")


def test_a_member_joins_through_names_another_brought_earlier_in_the_same_batch() -> None:
    errors = enriched("HighErrorRate", at=0, service="checkout", cluster="prod")
    latency = enriched("HighLatency", at=1, service="checkout", pod="cart-0", cluster="prod")
    crashing = enriched("KubePodCrashLooping", at=2, pod="cart-0", cluster="prod")
    # Without the latency alert, the crashing pod shares nothing with the errors: apart.
    _, apart = _assign([errors, crashing])
    assert len(_incidents(apart)) == 2
    # With it, in one batch of unrelated alerts, the pod it named leads the crash to the same incident,
    # exactly as when each arrives in a batch of its own.
    others = [enriched("HighLatency", at=1, service=f"other-{n}", cluster="prod") for n in range(50)]
    _, together = _assign([*others, errors, latency, crashing])
    assert len(_incidents(together[-3:])) == 1
    correlator, index, one_by_one = Correlator(IncidentSettings()), OpenIndex(), []
    for message in [*others, errors, latency, crashing]:
        index, placed = correlator.assign(index, [message], NOW)
        one_by_one += placed
    assert one_by_one == together
