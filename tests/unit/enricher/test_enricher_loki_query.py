"""Which log streams an alert asks Loki for: its most specific identity first, never all labels at once."""

from __future__ import annotations

import re

import pytest

from services.enricher._loki import PROBLEM_FILTER, parse_label_map, problem_query
from services.enricher._streams import candidates, most_specific, object_names

LABEL_MAP = parse_label_map(
    ["instance=host", "pod=pod", "namespace=namespace", "container=container", "service=service_name"]
)


def selectors(labels: dict[str, str]) -> list[str]:
    return [candidate.selector for candidate in candidates(labels, LABEL_MAP)]


def test_a_kube_state_metrics_alert_asks_for_its_pod_not_the_exporters_ip_as_a_host() -> None:
    labels = {
        "alertname": "KubePodCrashLooping",
        "instance": "10.42.17.203:8080",
        "namespace": "shop",
        "pod": "api-7d9c5b6f4-h2x8k",
        "container": "api",
        "service": "kube-state-metrics",
    }
    found = selectors(labels)
    assert found[0] == '{namespace="shop", pod="api-7d9c5b6f4-h2x8k"}'
    # No selector mixes two identities: the pod IP as host is a last resort of its own.
    assert not any("pod=" in s and "host=" in s for s in found)
    assert found.index('{container="api", namespace="shop"}') < found.index('{host="10.42.17.203"}')
    assert found.index('{namespace="shop", service_name="kube-state-metrics"}') < found.index(
        '{host="10.42.17.203"}'
    )


def test_the_first_candidate_with_a_stream_wins() -> None:
    labels = {"instance": "10.42.17.203:8080", "namespace": "shop", "pod": "api-0", "container": "api"}
    found = candidates(labels, LABEL_MAP)
    streams = [{"namespace": "shop", "container": "api", "pod": "api-1"}, {"host": "10.42.17.203"}]
    index = most_specific(found, streams)
    assert index is not None
    assert found[index].selector == '{container="api", namespace="shop"}'
    assert most_specific(found, [{"namespace": "other", "pod": "api-0"}]) is None


def test_stream_label_names_other_shippers_use_are_tried_after_the_mapped_one() -> None:
    found = selectors({"pod": "api-0"})
    assert found[:3] == ['{pod="api-0"}', '{pod_name="api-0"}', '{k8s_pod_name="api-0"}']
    custom = [c.selector for c in candidates({"pod": "api-0"}, {"pod": "kubernetes_pod"})]
    assert custom[0] == '{kubernetes_pod="api-0"}'


def test_a_workload_alert_selects_the_pods_named_after_it() -> None:
    found = candidates({"job_name": "nightly.sync", "namespace": "batch"}, LABEL_MAP)
    assert found[0].selector == '{namespace="batch", pod=~"nightly\\\\.sync-[a-z0-9]{5}"}'
    assert found[0].holds({"namespace": "batch", "pod": "nightly.sync-2lhkn"})
    assert not found[0].holds({"namespace": "batch", "pod": "nightlyxsync-2lhkn"})
    assert not found[0].holds({"namespace": "batch", "pod": "nightly.sync-backfill-2lhkn"})


def test_an_instance_without_a_port_or_with_an_ipv6_address_keeps_its_host() -> None:
    assert selectors({"instance": "web-1"})[0] == '{host="web-1"}'
    assert selectors({"instance": "[::1]:9100"})[0] == '{host="[::1]"}'


def test_values_are_escaped_and_no_identity_means_no_query() -> None:
    assert selectors({"pod": 'a"b\\c'})[0] == '{pod="a\\"b\\\\c"}'
    assert selectors({"alertname": "X", "severity": "page", "namespace": "shop"}) == []


def test_event_lines_are_found_by_whole_object_names_only() -> None:
    names = object_names({"deployment": "api", "namespace": "shop"})
    assert names is not None
    pattern = re.compile(names)
    assert pattern.search("type=Warning reason=BackOff object=Pod/api-7d9c5b6f4-h2x8k msg=x")
    assert pattern.search("name=api.17a5f kind=Deployment reason=ScalingReplicaSet")
    assert not pattern.search("type=Warning object=Pod/api-gateway-7b9f4fd5c9-xk2lm reason=BackOff")
    assert not pattern.search("object=Pod/rapid-0")
    # The claims named after it: a missing StorageClass keeps its pods Pending.
    assert pattern.search("reason=ProvisioningFailed object=PersistentVolumeClaim/api-data msg=x")
    assert pattern.search("name=api-data.17b0b2 kind=PersistentVolumeClaim reason=ProvisioningFailed")
    assert not pattern.search("object=PersistentVolumeClaim/apidata msg=x")
    assert object_names({"namespace": "shop", "instance": "h:1"}) is None


def test_the_problem_filter_is_case_insensitive_and_matches_whole_words() -> None:
    query = problem_query('{host="web-1"}')
    assert query.startswith('{host="web-1"} |~ `(?i)')
    problem = re.compile(PROBLEM_FILTER)
    for line in ("ERROR db down", "Warning: slow", "reason=FailedMount", "connection refused", "OOMKilled"):
        assert problem.search(line), line
    for line in ("GET /api/rooms 200", "terror movie list", "bloom filter loaded"):
        assert not problem.search(line), line


@pytest.mark.parametrize("bad", ["instance", "=host", "instance="])
def test_a_malformed_label_map_entry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="alert_label=loki_label"):
        parse_label_map([bad])
