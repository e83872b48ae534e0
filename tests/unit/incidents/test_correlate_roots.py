"""The root of an incident in every arrival order: replicas of the analyst place one storm's alerts in
whatever order their batches win the index, so the root must not depend on who came first more than
it must, and must not change with every member."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import schemas
from services.incidents import Assignment, Correlator, IncidentSettings, OpenIndex
from tests.unit.incidents._alerts import enriched, pod_info

KSM: dict[str, Any] = {"job": "kube-state-metrics", "instance": "10.0.5.12:8080", "cluster": "prod"}


def _database_down() -> schemas.EnrichedAlert:
    return enriched(
        "PostgresqlDown", summary="Postgresql instance db-main-0 is down.", job="postgres-exporter",
        service="postgres-exporter", namespace="data", pod="db-main-0", instance="10.1.3.4:9187",
        cluster="prod",
    )  # fmt: skip


def _replicas_short() -> schemas.EnrichedAlert:
    return enriched(
        "KubeStatefulSetReplicasMismatch",
        summary="StatefulSet data/db-main has not matched the expected replicas.",
        namespace="data",
        statefulset="db-main",
        **KSM,
    )


def _dependants(count: int) -> list[schemas.EnrichedAlert]:
    """Services failing on the database, several alerts each (errors, latency, 5xx)."""
    kinds = ("DatabaseClientErrorsHigh", "DatabaseClientLatencyHigh", "HTTPServerErrorsHigh")
    services = ("checkout", "orders", "payments")
    alerts = []
    for n in range(count):
        service = services[n % len(services)]
        labels = {"namespace": "shop", "service": service, "pod": f"{service}-7d9f8b6c4-x2k4{n}"}
        alerts.append(
            enriched(
                kinds[n % len(kinds)],
                at=1 + n,
                summary=f"queries to db-main fail ({n})",
                peer_service="db-main",
                cluster="prod",
                labels=labels,
            )
        )
    return alerts


def _one_by_one(alerts: Sequence[schemas.EnrichedAlert]) -> list[Assignment]:
    """Each alert in a batch of its own, as the replicas' batches reach the index one after another."""
    correlator, index, out = Correlator(IncidentSettings()), OpenIndex(), []
    last = max(alert.alert.starts_at for alert in alerts) + timedelta(seconds=1)
    for alert in alerts:
        index, (assignment,) = correlator.assign(index, [alert], last)
        out.append(assignment)
    return out


def test_alerts_of_services_failing_on_one_database_do_not_take_the_root_in_turn() -> None:
    # The StatefulSet's alert came first; each dependant's alert explains the others of its service
    # and is explained by the database's: none of them is the root of the rest.
    dependants = _dependants(30)
    assignments = _one_by_one([_replicas_short(), _database_down(), *dependants])
    assert len({a.incident_id for a in assignments}) == 1
    assert [a for a in assignments if a.new_root] == []
    assert all(a.role != "root" for a in assignments[2:])


def test_the_database_outage_is_one_incident_in_any_order_of_its_first_alerts() -> None:
    # A dependant reaching the index before the database's own alerts must not leave the
    # StatefulSet's alert in an incident of its own.
    first = [_database_down(), _replicas_short(), *_dependants(1)]
    rest = _dependants(7)[1:]
    for order in itertools.permutations(first):
        assignments = _one_by_one([*order, *rest])
        assert len({a.incident_id for a in assignments}) == 1, [m.alert.labels["alertname"] for m in order]
        assert sum(a.new_root for a in assignments) <= 1


def test_an_alert_saying_only_what_the_root_says_leaves_the_root_in_place() -> None:
    # The database's pod is down and explains the dependants; the StatefulSet short of a replica after
    # it names the same database, nothing more.
    down, short = _database_down(), _replicas_short()
    dependant = _dependants(1)[0]
    assignments = _one_by_one([dependant, down, short])
    assert [a.new_root for a in assignments] == [False, True, False]
    assert assignments[2].role != "root"


def test_a_probe_of_a_host_behind_a_failing_ingress_controller_does_not_take_the_root() -> None:
    # The controller's reload fails; each host behind it answers 5XX ("returned 5XX": the host fails,
    # as the probe says it does). The probe explains no more than the hosts' own alerts do.
    controller = enriched(
        "NGINXConfigFailed", namespace="ingress-nginx", pod="ingress-nginx-controller-6c9f7d-x2x9p",
        controller_class="k8s.io/ingress-nginx", cluster="prod",
    )  # fmt: skip
    hosts = [
        enriched(
            "NGINXTooMany500s",
            at=10 + n,
            summary="More than 5% of all requests returned 5XX",
            namespace="ingress-nginx",
            ingress=name,
            host=f"{name}.example.com",
            cluster="prod",
        )
        for n, name in enumerate(("www", "api", "docs"))
    ]
    probe = enriched(
        "BlackboxProbeHttpFailure", at=30, summary="HTTP status code is not 200-399 (502)", job="blackbox",
        instance="https://www.example.com/", cluster="prod",
    )  # fmt: skip
    assignments = _one_by_one([controller, *hosts, probe])
    assert len({a.incident_id for a in assignments}) == 1
    assert [a.new_root for a in assignments] == [False] * 5
    assert assignments[0].role == "root"


def test_a_new_root_about_the_old_roots_subject_refines_it_and_another_subject_moves_it() -> None:
    # node-exporter warns of memory on 10.0.5.31, then kube-state-metrics reports the same machine,
    # by its EC2 name, under memory pressure: the cause said more precisely, still that node.
    memory_high = enriched(
        "NodeMemoryHighUtilization", summary="Host memory is filling up", job="node-exporter",
        instance="10.0.5.31:9100", cluster="prod",
    )  # fmt: skip
    pressure = enriched(
        "KubeNodePressure", at=60, summary="ip-10-0-5-31.ec2.internal has MemoryPressure",
        node="ip-10-0-5-31.ec2.internal", condition="MemoryPressure", **KSM,
    )  # fmt: skip
    refined = _one_by_one([memory_high, pressure])
    assert len({a.incident_id for a in refined}) == 1
    assert [(a.new_root, a.refines) for a in refined] == [(False, False), (True, True)]
    # The same machine said to be down: news, whatever it was called before.
    not_ready = enriched("KubeNodeNotReady", at=90, node="ip-10-0-5-31.ec2.internal", **KSM)
    down = _one_by_one([memory_high, not_ready])
    assert [(a.new_root, a.refines) for a in down] == [(False, False), (True, False)]
    # A dependant's errors, then the database they fail on: another subject takes the root.
    moved = _one_by_one([_dependants(1)[0], _database_down()])
    assert [(a.new_root, a.refines) for a in moved] == [(False, False), (True, False)]
    # A pod's alert, then its node NotReady: the pod stands on the node, it is not the node.
    pod = enriched(
        "KubePodNotReady", summary="Pod shop/cart-0 not ready", namespace="shop", pod="cart-0",
        metrics=[pod_info("cart-0", "ip-10-0-1-7", "shop")], cluster="prod",
    )  # fmt: skip
    node_down = enriched("KubeNodeNotReady", at=30, node="ip-10-0-1-7", **KSM)
    assert [(a.new_root, a.refines) for a in _one_by_one([pod, node_down])] == [(False, False), (True, False)]


def _node_outage_with_a_checkout_pod() -> list[schemas.EnrichedAlert]:
    """A node NotReady and the NotReady pods it explains, one of them a replica of checkout."""
    node = "ip-10-0-1-7.eu-west-1.compute.internal"
    pods = [
        enriched(
            "KubePodNotReady",
            at=1 + n,
            summary=f"Pod shop/{pod} not ready",
            namespace="shop",
            pod=pod,
            node=node,
            cluster="prod",
        )
        for n, pod in enumerate(("checkout-7d9f8b6c4-q2w8z", "cart-5c8d7f9b6-m4n7p"))
    ]
    return [enriched("KubeNodeNotReady", node=node, **KSM), *pods]


def test_an_error_naming_its_database_does_not_join_a_node_outage_by_its_workload() -> None:
    # A checkout replica's database errors reach the index before the database's own alert. Another
    # checkout replica was on the node that died, but nothing there explains "queries to db-main
    # fail", and db-main is not there: the errors open their own incident, which the database's
    # alert then roots, and the other dependants join.
    node_storm = _node_outage_with_a_checkout_pod()
    dependants = _dependants(6)
    early, rest = dependants[0], dependants[1:]
    assert early.alert.labels["service"] == "checkout"
    assignments = _one_by_one([*node_storm, early, _database_down(), *rest])
    node_incident = assignments[0].incident_id
    assert [a.incident_id for a in assignments[: len(node_storm)]] == [node_incident] * 3
    database = {a.incident_id for a in assignments[len(node_storm) :]}
    assert len(database) == 1
    assert node_incident not in database
    assert assignments[len(node_storm) + 1].new_root


def test_a_second_cause_explaining_one_member_of_another_outage_opens_its_own_incident() -> None:
    # A checkout replica's errors say only that PostgreSQL is shutting down (no host) and join the
    # node's outage by their workload. The database down then explains that one member by its
    # technology, not the node: it is another cause, not the node's new root, and its dependants'
    # alerts follow it.
    node_storm = _node_outage_with_a_checkout_pod()
    early = enriched(
        "HTTPServerErrorsHigh", at=5, namespace="shop", service="checkout", pod="checkout-7d9f8b6c4-x2k49",
        cluster="prod", logs=("pq: the database system is shutting down",),
    )  # fmt: skip
    rest = _dependants(6)
    assignments = _one_by_one([*node_storm, early, _database_down(), *rest])
    node_incident = assignments[0].incident_id
    assert [a.incident_id for a in assignments[: len(node_storm) + 1]] == [node_incident] * 4
    database = assignments[len(node_storm) + 1]
    assert database.incident_id != node_incident
    assert database.opened
    assert not any(a.new_root for a in assignments)
    assert {a.incident_id for a in assignments[len(node_storm) + 2 :]} == {database.incident_id}


def test_a_cause_explaining_the_root_itself_still_takes_the_root() -> None:
    # The node NotReady explains the pod that opened the incident and the sibling that joined it.
    node_down, *pods = _node_outage_with_a_checkout_pod()
    node = enriched("KubeNodeNotReady", at=30, node=node_down.alert.labels["node"], **KSM)
    assignments = _one_by_one([*pods, node])
    assert len({a.incident_id for a in assignments}) == 1
    assert [a.new_root for a in assignments] == [False, False, True]


def test_a_node_takes_the_root_from_a_services_error_rate_through_the_pod_it_explains() -> None:
    # kube-prometheus' order: a 5-minute error-rate rule fires for checkout, a checkout pod's latency
    # joins it, then the node under that pod goes NotReady (for: 15m). An error rate is a symptom,
    # not a cause beside the node: the node becomes the root, and the node's other pods follow.
    node = "ip-10-0-1-7.eu-west-1.compute.internal"
    errors = enriched("HighErrorRate", namespace="shop", service="checkout", cluster="prod",
                      summary="checkout 5xx ratio above 5%")  # fmt: skip
    pod = "checkout-7d9f8b6c4-q2w8z"
    latency = enriched("HTTPServerLatencyHigh", at=10, namespace="shop", service="checkout", pod=pod,
                       cluster="prod", metrics=[pod_info(pod, node, "shop")])  # fmt: skip
    node_down = enriched("KubeNodeNotReady", at=60, node=node, **KSM)
    other = enriched(
        "KubePodNotReady", at=70, namespace="web", pod="frontend-5c8d7f9b6-m4n7p", node=node, **KSM
    )
    assignments = _one_by_one([errors, latency, node_down, other])
    assert len({a.incident_id for a in assignments}) == 1
    assert [a.new_root for a in assignments] == [False, False, True, False]
