"""A root cause says what the alert's expression measures, not what its rule's other alerts do.

A rule knows several alerts by name, or by their words; their expressions measure different things
(page faults, swap, requested capacity, a forecast, a lag). Each case is an alert written for the
test, its expression of one such class; the assertions are on what the person on call reads.
"""

from __future__ import annotations

from urllib.parse import quote_plus

import schemas
from services.analyst import RulesAnalyst
from services.analyst.eval import build_message

ANALYST = RulesAnalyst()
HOST = {"instance": "app-7:9100", "job": "node"}


def _analysis(
    name: str,
    expr: str,
    labels: dict[str, str] | None = None,
    summary: str = "",
    analyst: RulesAnalyst = ANALYST,
) -> schemas.Analysis:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": name, **(labels if labels is not None else HOST)},
                "annotations": {"summary": summary} if summary else {},
                "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    return analyst.analyze(message)


def _reads(analysis: schemas.Analysis) -> str:
    return f"{analysis.summary}\n{analysis.root_cause}"


def test_node_memory_alerts_say_what_their_expression_counts() -> None:
    overcommit = _analysis(
        "KubeMemoryOvercommit",
        "sum(namespace_memory:kube_pod_container_resource_requests:sum)"
        ' - sum(kube_node_status_allocatable{resource="memory"}) > 0',
        {"cluster": "eu-1"},
    )
    assert "requested capacity, not memory in use" in overcommit.root_cause
    assert "exhausted" not in _reads(overcommit)
    faults = _analysis("NodeMemoryMajorPagesFaults", "rate(node_vmstat_pgmajfault[10m]) > 300")
    assert "major page faults" in faults.summary
    assert "does not measure how much is free" in faults.root_cause
    assert "exhausted" not in _reads(faults)
    swap = _analysis("HostSwapIsFillingUp", "node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes < 0.3")
    assert swap.root_cause.startswith("Swap on app-7:9100 is filling")
    kills = _analysis("HostOomKillDetected", "increase(node_vmstat_oom_kill[15m]) > 0")
    assert "OOM killer killed a process" in kills.root_cause
    # The expression that measures what is available keeps the general wording.
    available = _analysis(
        "HostOutOfMemory", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.05"
    )
    assert "nearly exhausted" in available.root_cause
    assert {a.category for a in (overcommit, faults, swap, kills, available)} == {"memory_pressure"}


def test_a_cpu_request_overcommit_is_capacity_not_load() -> None:
    analysis = _analysis(
        "ClusterCpuRequestsOvercommitted",
        'sum(kube_pod_container_resource_requests{resource="cpu"})'
        ' > sum(kube_node_status_allocatable{resource="cpu"})',
        {"cluster": "eu-1"},
        "CPU requests overcommitted",
    )
    assert analysis.model == "rules:signals-cpu"
    assert "not CPU in use" in analysis.root_cause
    assert "short of CPU" not in analysis.root_cause


def test_inodes_and_a_forecast_are_not_a_full_disk() -> None:
    inodes = _analysis("AppVolumeInodesLow", "node_filesystem_files_free / node_filesystem_files < 0.05")
    assert inodes.model == "rules:signals-disk-capacity"
    assert inodes.summary.endswith("a filesystem is running out of inodes")
    assert "even with free bytes" in inodes.root_cause
    forecast = _analysis(
        "AppVolumeWillFillSoon",
        'predict_linear(node_filesystem_avail_bytes{mountpoint="/srv"}[2h], 12 * 3600) < 0',
        summary="Disk will fill within 12h",
    )
    assert forecast.summary.endswith("is forecast to fill up")
    assert "It is not full yet" in forecast.root_cause
    # A rule that knows the name: a threshold says little is left, not that it is falling.
    threshold = _analysis(
        "HostOutOfDiskSpace", "node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.08"
    )
    assert threshold.summary.endswith("the filesystem is almost full")
    assert "falling" not in threshold.root_cause
    trend = _analysis(
        "NodeFilesystemSpaceFillingUp", "predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0"
    )
    assert "at its recent rate" in trend.root_cause


def test_disk_pressure_is_a_threshold_not_a_full_disk() -> None:
    analysis = _analysis(
        "NodeDiskPressureCondition",
        'kube_node_status_condition{condition="DiskPressure",status="true"} == 1',
        {"node": "worker-3"},
        "worker-3 has DiskPressure",
    )
    assert analysis.category == "disk_capacity"
    assert "short of disk space" in analysis.summary
    assert "not yet full" in analysis.root_cause
    assert "is full" not in analysis.root_cause


def test_slow_disk_operations_and_a_failed_device_are_not_saturation() -> None:
    slow = _analysis(
        "HostUnusualDiskWriteLatency",
        "rate(node_disk_write_time_seconds_total[5m]) / rate(node_disk_writes_completed_total[5m]) > 0.05",
    )
    assert slow.summary.endswith("disk operations are slow")
    assert "saturated" not in _reads(slow)
    failed = _analysis("ArrayMemberLost", 'node_md_disks{state="failed"} > 0', summary="RAID disk failure")
    assert failed.model == "rules:signals-disk-io"
    assert "health, not its load" in failed.root_cause
    assert "saturated" not in _reads(failed)


def test_steal_and_iowait_are_not_a_busy_process() -> None:
    steal = _analysis(
        "HostCpuStealNoisyNeighbor", 'avg(rate(node_cpu_seconds_total{mode="steal"}[5m])) > 0.1'
    )
    assert "other guests" in steal.root_cause
    assert "runaway" not in steal.root_cause
    iowait = _analysis("HostCpuHighIowait", 'avg(rate(node_cpu_seconds_total{mode="iowait"}[5m])) > 0.2')
    assert "not the CPU" in iowait.root_cause
    busy = _analysis("HostHighCpuLoad", '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9')
    assert "runaway" in busy.root_cause


def test_throttling_a_quota_and_latency_are_not_a_cpu_shortage() -> None:
    pod = {"namespace": "shop", "pod": "cart-6b7c9d-q8w2e", "container": "cart"}
    throttled = _analysis(
        "CartCpuThrottled",
        "rate(container_cpu_cfs_throttled_periods_total[5m])"
        " / rate(container_cpu_cfs_periods_total[5m]) > 0.3",
        pod,
    )
    assert throttled.model == "rules:signals-cpu"
    assert "throttled at its CPU limit" in throttled.summary
    assert "short of CPU" not in throttled.root_cause
    quota = _analysis(
        "ShopCpuQuotaReached",
        'kube_resourcequota{type="used",resource="requests.cpu"} / kube_resourcequota{type="hard"} >= 1',
        {"namespace": "shop", "resourcequota": "compute"},
    )
    assert "configured cap, not CPU load" in quota.root_cause
    slow = _analysis(
        "ApiSlowUnderCpuLimit",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 2",
        {"job": "api"},
        "API slow, CPU bound",
    )
    assert slow.model == "rules:signals-cpu"
    assert "does not measure CPU" in slow.root_cause


def test_conntrack_and_a_flapping_link_are_not_interface_errors() -> None:
    conntrack = _analysis(
        "HostConntrackLimit", "node_nf_conntrack_entries / node_nf_conntrack_entries_limit > 0.9"
    )
    assert "connection-tracking table" in conntrack.summary
    assert "errors" not in conntrack.root_cause.split(".")[0]
    flapping = _analysis(
        "NodeNetworkInterfaceFlapping", "changes(node_network_up[5m]) > 3", {**HOST, "device": "eth1"}
    )
    assert "goes down and up repeatedly" in flapping.root_cause
    bond = _analysis(
        "BondMemberMissing", "node_bonding_active < node_bonding_slaves", summary="Network bond degraded"
    )
    assert bond.model == "rules:signals-network"
    assert "fewer active member links" in bond.root_cause


def test_a_lag_a_replica_shortfall_and_a_missing_leader_are_not_a_target_down() -> None:
    lag = _analysis(
        "PgReplicaNotHealthy",
        "pg_replication_lag_seconds > 300",
        {"instance": "pg-2:9187"},
        "Postgres replica unhealthy",
    )
    assert lag.category == "availability"
    assert "lags behind its primary" in lag.root_cause
    assert "down" not in lag.summary
    replicas = _analysis(
        "WebReplicasUnavailable",
        "kube_deployment_spec_replicas != kube_deployment_status_replicas_available",
        {"namespace": "shop", "deployment": "web"},
    )
    assert "fewer ready replicas" in replicas.root_cause
    leader = _analysis("RaftNoLeader", "max(raft_has_leader) == 0", {"instance": "raft-1:8080"})
    assert "no leader" in leader.root_cause
    for analysis in (lag, replicas, leader):
        assert "is down, missing or not answering" not in analysis.root_cause


def test_one_recent_restart_and_a_failed_unit_are_not_a_loop() -> None:
    restarted = _analysis("CacheRestarted", "cache_uptime_seconds < 120", {"instance": "cache-1:9000"})
    assert restarted.category == "crash_loop"
    assert "restarted recently" in restarted.root_cause
    assert "repeatedly" not in _reads(restarted)
    failed = _analysis(
        "WorkerUnitCrashed",
        'node_systemd_unit_state{state="failed",name="worker.service"} == 1',
        {"name": "worker.service"},
    )
    assert "has failed and stays stopped" in failed.root_cause
    looping = _analysis(
        "CacheRestarting", "changes(process_start_time_seconds[15m]) > 3", {"instance": "cache-1:9000"}
    )
    assert "restarts repeatedly" in looping.root_cause


def test_one_analyst_words_each_alert_by_its_own_expression_whatever_it_analysed_before() -> None:
    # The analyst keeps the wording it chose by the values the rule's conditions read: alerts of one
    # rule, taken in turn by one analyst, each get their own expression's words, first time or not.
    analyst = RulesAnalyst()
    faults = ("NodeMemoryMajorPagesFaults", "rate(node_vmstat_pgmajfault[10m]) > 300")
    available = ("HostOutOfMemory", "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.05")

    def read(name: str, expr: str) -> tuple[str, list[str]]:
        analysis = _analysis(name, expr, analyst=analyst)
        return analysis.root_cause, analysis.remediation

    first = [read(*faults), read(*available)]
    again = [read(*faults), read(*available)]
    assert again == first
    (fault_cause, fault_steps), (available_cause, available_steps) = first
    assert "major page faults" in fault_cause
    assert "nearly exhausted" in available_cause
    assert "pgmajfault" in fault_steps[0]
    assert "MemAvailable" in available_steps[0]
