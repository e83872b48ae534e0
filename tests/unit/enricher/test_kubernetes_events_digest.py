"""Which Kubernetes events an alert asks for, how they read as evidence lines, and the token that asks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.enricher._kubernetes_digest import Event, Lookup, digest, entries, kept, parse, plan
from services.enricher._kubernetes_events import TokenFile
from services.runtime import ConfigError

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC).timestamp()


def event(
    name: str,
    reason: str,
    message: str,
    *,
    kind: str = "Pod",
    type: str = "Warning",
    count: int = 1,
    first: float = T0,
    last: float | None = None,
) -> Event:
    return Event(kind, name, type, reason, message, count, first, first if last is None else last)


def kept_by(lookup: Lookup, *objects: str) -> list[str]:
    found = [event(name, "BackOff", "x", kind=kind) for kind, _, name in (o.partition("/") for o in objects)]
    return [f"{e.kind}/{e.name}" for e in kept(found, lookup, T0 - 1, T0 + 1)]


def test_a_pod_is_asked_for_by_field_selector_in_its_namespace() -> None:
    [lookup] = plan({"alertname": "KubePodNotReady", "namespace": "shop", "pod": "api-7d9c5b6f4-h2x8k"})
    assert lookup.path == "/api/v1/namespaces/shop/events"
    assert lookup.selector == "involvedObject.kind=Pod,involvedObject.name=api-7d9c5b6f4-h2x8k"
    assert lookup.names is None


def test_a_deployment_keeps_itself_its_replica_sets_pods_and_claims_but_not_a_longer_name() -> None:
    [lookup] = plan({"namespace": "shop", "deployment": "api"})
    assert lookup.selector == ""  # field selectors match whole names: the namespace is listed
    assert kept_by(
        lookup,
        "Deployment/api",
        "ReplicaSet/api-7d9c5b6f4",
        "Pod/api-7d9c5b6f4-h2x8k",
        "PersistentVolumeClaim/api-cache",
        "Pod/api-gateway-5b7c9d8f6-z9y8x",
        "Deployment/api-gateway",
        "Pod/web-7d9c5b6f4-h2x8k",
    ) == [
        "Deployment/api",
        "ReplicaSet/api-7d9c5b6f4",
        "Pod/api-7d9c5b6f4-h2x8k",
        "PersistentVolumeClaim/api-cache",
    ]
    assert "deployment/api" in lookup.describe()


def test_a_statefulsets_claims_are_named_after_its_pods() -> None:
    [lookup] = plan({"namespace": "db", "statefulset": "redis", "pod": "redis-0"})
    assert kept_by(lookup, "PersistentVolumeClaim/data-redis-0", "Pod/redis-0", "Pod/redis-sentinel-0") == [
        "PersistentVolumeClaim/data-redis-0",
        "Pod/redis-0",
    ]


def test_a_node_is_asked_for_where_the_kubelet_records_it_and_a_claim_by_name() -> None:
    lookups = plan(
        {"namespace": "shop", "persistentvolumeclaim": "data-0", "node": "ip-10-0-1-5.ec2.internal"}
    )
    assert [(lookup.namespace, lookup.selector) for lookup in lookups] == [
        ("shop", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=data-0"),
        ("default", "involvedObject.kind=Node,involvedObject.name=ip-10-0-1-5.ec2.internal"),
    ]


def test_an_alert_that_names_no_object_or_not_a_valid_name_asks_nothing() -> None:
    assert plan({"alertname": "HighErrorRate", "service": "checkout", "instance": "web-1:9100"}) == []
    assert plan({"pod": "api-0"}) == []  # a pod without its namespace cannot be listed
    # A label value that is no object name would change the selector's meaning: not asked.
    assert plan({"namespace": "shop", "pod": "api-0,involvedObject.kind=Node"}) == []
    assert plan({"namespace": "Shop", "pod": "api-0"}) == []


def legacy_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "metadata": {"name": "api-0.17a5f", "namespace": "shop", "creationTimestamp": "2026-11-30T06:58:00Z"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "api-0", "apiVersion": "v1"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container api in pod api-0_shop(1b2c)",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-30T06:58:00Z",
        "lastTimestamp": "2026-11-30T07:03:00Z",
        "count": 37,
        "type": "Warning",
        "eventTime": None,
    }
    item.update(overrides)
    return item


def test_a_legacy_event_keeps_its_count_and_both_timestamps() -> None:
    parsed = parse(legacy_item())
    assert parsed == Event(
        "Pod",
        "api-0",
        "Warning",
        "BackOff",
        "Back-off restarting failed container api in pod api-0_shop(1b2c)",
        37,
        T0 - 120,
        T0 + 180,
    )


def test_an_event_recorded_through_events_k8s_io_reads_its_event_time_and_series() -> None:
    item = legacy_item(
        reason="FailedScheduling",
        message="0/3 nodes are available: 3 Insufficient memory.",
        firstTimestamp=None,
        lastTimestamp=None,
        count=None,
        eventTime="2026-11-30T07:00:00.250000Z",
        series={"count": 4, "lastObservedTime": "2026-11-30T07:02:00.000000Z"},
    )
    parsed = parse(item)
    assert parsed is not None
    assert (parsed.count, parsed.first, parsed.last) == (4, T0 + 0.25, T0 + 120)


def test_items_that_are_not_events_are_skipped_not_raised() -> None:
    assert parse("not an object") is None
    assert parse(legacy_item(involvedObject=None)) is None
    no_time = legacy_item(firstTimestamp="yesterday", lastTimestamp=None, metadata={})
    assert parse(no_time) is None
    odd = parse(legacy_item(count="many", message="  two\n lines "))
    assert odd is not None
    assert (odd.count, odd.message) == (1, "two lines")


def test_only_events_seen_in_the_window_are_kept() -> None:
    lookup = Lookup("shop", "involvedObject.kind=Pod,involvedObject.name=api-0")
    before = event("api-0", "Pulled", "a", first=T0 - 900, last=T0 - 700)
    spanning = event("api-0", "BackOff", "b", first=T0 - 900, last=T0 + 100)
    during = event("api-0", "Unhealthy", "c", first=T0 + 10)
    after = event("api-0", "Killing", "d", first=T0 + 700)
    assert kept([before, spanning, during, after], lookup, T0 - 600, T0 + 600) == [spanning, during]


def test_events_merge_by_reason_and_message_with_their_counts_problems_newest_first() -> None:
    message = "0/3 nodes are available: 3 Insufficient memory."
    digests = digest(
        [
            event("api-7d9c5b6f4-h2x8k", "Scheduled", "Successfully assigned", type="Normal", first=T0 + 50),
            event("api-7d9c5b6f4-h2x8k", "FailedScheduling", message, count=3, first=T0, last=T0 + 30),
            event("api-7d9c5b6f4-q8w7z", "FailedScheduling", message, count=2, first=T0 + 5, last=T0 + 40),
            event(
                "api-7d9c5b6f4-h2x8k", "FailedScheduling", "0/3 nodes: 3 node(s) had taints", first=T0 + 60
            ),
            event("api-7d9c5b6f4-h2x8k", "DNSConfigForming", "Nameserver limits exceeded", first=T0 + 90),
        ]
    )
    assert [(d.newest.reason, d.newest.message[:10], d.count) for d in digests] == [
        ("FailedScheduling", "0/3 nodes:", 1),  # the newest problem first
        ("FailedScheduling", "0/3 nodes ", 5),  # both pods' counts
        ("DNSConfigForming", "Nameserver", 1),  # a Warning, but not a reason a pod fails for
        ("Scheduled", "Successful", 1),  # Normal last
    ]
    merged = digests[1]
    assert (merged.first, merged.last) == (T0, T0 + 40)
    assert merged.line() == (
        "name=api-7d9c5b6f4-q8w7z kind=Pod objects=2 type=Warning reason=FailedScheduling "
        'msg="0/3 nodes are available: 3 Insufficient memory."'
    )


def test_a_count_becomes_that_many_lines_from_first_to_last_seen_within_the_limits() -> None:
    [backoff] = digest([event("api-0", "BackOff", "Back-off restarting", count=5, first=T0, last=T0 + 40)])
    assert [at for at, _ in backoff.entries(10)] == [T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40]
    assert [at for at, _ in backoff.entries(2)] == [T0, T0 + 40]
    [once] = digest([event("api-0", "OOMKilling", "Memory cap hit", first=T0 + 7)])
    assert once.entries(10) == [(T0 + 7, once.line())]
    normal = digest([event("api-0", "Pulled", "pulled", type="Normal", count=9, first=T0 - 5)])
    lines = entries([once, backoff, *normal], max_lines=4, max_repeats=3)
    # The problem digests fill the limit first; lines come back in time order for clustering.
    assert lines == sorted(lines)
    assert [(at, line.split(" reason=")[1][:7]) for at, line in lines] == [
        (T0, "BackOff"),
        (T0 + 7, "OOMKill"),
        (T0 + 20, "BackOff"),
        (T0 + 40, "BackOff"),
    ]


def test_a_rotated_token_is_read_within_a_minute_and_a_file_being_replaced_keeps_the_last(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token"
    path.write_text("first-token\n")
    now = [100.0]
    token = TokenFile(path, clock=lambda: now[0])
    path.write_text("second-token")
    assert token.current() == "first-token"
    now[0] += 60
    assert token.current() == "second-token"
    path.unlink()
    now[0] += 60
    assert token.current() == "second-token"
    with pytest.raises(ConfigError, match="KUBERNETES_TOKEN_FILE"):
        TokenFile(tmp_path / "never-mounted")
