"""The rules analyst reads what an alert means: whole words of its name, its expression's metrics,
its annotations; never a word found inside another word."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from services.analyst import RulesAnalyst
from services.analyst._expr import parse_expression
from services.analyst._words import metric_words, words_of
from services.analyst.eval import build_message


def _alert(alertname: str, expr: str = "", annotations: dict[str, str] | None = None, **labels: str):  # type: ignore[no-untyped-def]
    alert = {
        "labels": {"alertname": alertname, **labels},
        "annotations": annotations or {},
        "startsAt": "2025-03-01T10:00:00Z",
    }
    if expr:
        alert["generatorURL"] = f"http://prometheus:9090/graph?g0.expr={quote(expr)}&g0.tab=1"
    return RulesAnalyst().analyze(build_message({"alert": alert}))


def test_names_split_into_stemmed_words() -> None:
    assert words_of("PrometheusTooManyRestarts") == ("prometheus", "too", "many", "restart")
    assert words_of("HTTP5xxErrorRate") == ("http", "5xx", "error", "rate")
    assert words_of("node_filesystem_avail_bytes") == ("node", "filesystem", "avail", "byte")


def test_a_word_a_metric_name_glues_to_a_rate_ratio_or_budget_is_two_words() -> None:
    assert metric_words("payments_request:burnrate1h") == ("payment", "request", "burn", "rate", "1h")
    assert metric_words("slo:errorratio30m") == ("slo", "error", "ratio", "30m")
    assert metric_words("search:latencybudget_remaining") == ("search", "latency", "budget", "remain")
    assert metric_words("node_memory_Active_bytes") == words_of("node_memory_Active_bytes")
    # An ordinary word ending in "rate" is one word: migrations counted are not a rate.
    assert metric_words("vm_migrate_pages_total") == words_of("vm_migrate_pages_total")
    assert "rate" not in metric_words("codegenerate_seconds_count")
    # Read as the vocabulary's phrase: the expression measures a burn rate, so the alert names an objective.
    analysis = _alert("PaymentsErrorRate", "sum(payments_request:burnrate1h) > 14.4", job="payments")
    assert "above the objective" in analysis.summary, analysis.summary


@pytest.mark.parametrize(
    ("name", "expr", "not_category"),
    [
        ("PrometheusTooManyRestarts", "changes(process_start_time_seconds[15m]) > 2", "memory_pressure"),
        ("PostgresqlTooManyLocksAcquired", "pg_locks_count > 100", "memory_pressure"),
        ("HaproxyHttpSlowingDown", "avg(haproxy_backend_max_total_time_seconds) > 1", "availability"),
        (
            "NginxHighHttp5xxErrorRate",
            "sum(rate(nginx_http_requests_total{status=~'5..'}[1m])) > 5",
            "availability",
        ),
        (
            "ClusterCpuHeadroomLow",
            "1 - avg(rate(node_cpu_seconds_total{mode='idle'}[5m])) > 0.9",
            "memory_pressure",
        ),
    ],
)
def test_a_word_inside_another_word_decides_nothing(name: str, expr: str, not_category: str) -> None:
    assert _alert(name, expr).category != not_category


@pytest.mark.parametrize(
    ("name", "expr", "category"),
    [
        (
            "ElasticsearchHeapUsageTooHigh",
            "elasticsearch_jvm_memory_used_bytes{area='heap'} > 0.9",
            "memory_pressure",
        ),
        ("ZfsPoolOutOfSpace", "zfs_pool_free_bytes / zfs_pool_size_bytes < 0.1", "disk_capacity"),
        (
            "EtcdHighFsyncDurations",
            "histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket[1m])) > 0.5",
            "disk_io",
        ),
        (
            "AlertmanagerFailedReload",
            "max_over_time(alertmanager_config_last_reload_successful[5m]) == 0",
            "config_error",
        ),
        ("KubeletInstanceUnreachable", "up{job='kubelet'} == 0", "availability"),
        ("ShopCheckoutJobGone", "absent(up{job='checkout'})", "availability"),
        (
            "PaymentsCertExpiresSoon",
            "probe_ssl_earliest_cert_expiry - time() < 86400 * 7",
            "certificate_expiry",
        ),
    ],
)
def test_the_cause_an_alert_states_is_found_in_its_words(name: str, expr: str, category: str) -> None:
    analysis = _alert(name, expr)
    assert analysis.category == category
    assert analysis.model.startswith("rules:")
    assert "no metric or log evidence" not in analysis.root_cause


def test_a_users_own_alert_name_is_read_for_its_meaning() -> None:
    analysis = _alert(
        "DataVolAlmostFull",
        "node_filesystem_avail_bytes{mountpoint='/srv/data'} / node_filesystem_size_bytes < 0.02",
        {"summary": "only 2% space left on /srv/data"},
        mountpoint="/srv/data",
        device="/dev/sdb1",
        instance="db-7:9100",
    )
    assert analysis.category == "disk_capacity"
    assert "/srv/data" in analysis.root_cause
    # The explanation names the words that decided it, and nothing about inodes it did not see.
    assert "space" in analysis.root_cause
    assert "inode" not in analysis.summary.lower()


def test_an_alert_naming_only_a_symptom_is_unknown_with_low_confidence() -> None:
    analysis = _alert(
        "CheckoutLatencyHigh", "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m])) > 2"
    )
    assert analysis.category == "unknown"
    assert analysis.confidence < 0.45


def test_label_values_are_not_read_as_the_cause() -> None:
    # A certificate alert whose labels happen to carry condition="MemoryPressure".
    analysis = _alert(
        "CertificateNotReady",
        'certmanager_certificate_ready_status{condition!="True"} == 1',
        condition="MemoryPressure",
        name="api-tls",
    )
    assert analysis.category == "certificate_expiry"


def test_the_expression_parts_are_told_apart() -> None:
    parsed = parse_expression(
        'sum by (instance) (rate(node_cpu_seconds_total{mode="iowait", job!="x"}[5m])) / count(up) > 0.2'
    )
    assert parsed.metrics == ("node_cpu_seconds_total", "up")
    assert "rate" in parsed.functions
    assert "instance" not in parsed.metrics
    assert parsed.values == ("iowait",)


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {"summary": "", "description": ""},
        {"description": "x" * 10_000},
        {"summary": "Festplatte fast voll auf {{ $labels.instance }}", "description": "Nur noch 3 % frei"},
        {"summary": "ディスクの空き容量が不足しています"},
        {"summary": "\x00\x01\ufffd binary \xff junk"},
    ],
)
def test_odd_annotations_are_analysed_never_a_crash(annotations: dict[str, str]) -> None:
    analysis = _alert("WeirdThing", "this is (not promql", annotations)
    assert analysis.category in {"unknown", "disk_capacity"}
    assert analysis.summary
    assert analysis.root_cause
    assert len(analysis.root_cause) < 2000


# Catastrophic backtracking shows as minutes, not milliseconds: the timeout is the failure mode.
@pytest.mark.timeout(30)
def test_huge_and_binary_log_lines_are_analysed() -> None:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "KubePodCrashLooping", "pod": "p"},
                "startsAt": "2025-03-01T10:00:00Z",
            },
            "logs": [
                {"sample": "A" * 65_536, "count": 1},
                {"sample": "\x00\x9f\x92\x96 \ufffd" * 100, "count": 3},
                {"sample": "x " * 30_000 + "OOMKilled", "count": 1},
                # Every literal the patterns need, so no prefilter spares the long word above.
                {
                    "sample": "not found; connection refused; Permission denied; line 3: syntax error",
                    "count": 1,
                },
            ],
        }
    )
    analysis = RulesAnalyst().analyze(message)
    assert analysis.category in {"crash_loop", "memory_pressure", "dependency_failure", "config_error"}
    assert all(len(line) < 1000 for line in analysis.evidence)


@pytest.mark.parametrize(
    "line",
    [
        'Readiness probe failed: Get "http://10.1.2.3:8080/ready": '
        "dial tcp 10.1.2.3:8080: connect: connection refused",
        "to shop at 10:42:17 connection refused",
        "ECONNREFUSED localhost",
    ],
)
def test_a_probe_a_namespace_or_a_time_is_never_named_as_the_dependency(line: str) -> None:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": "CheckoutErrorRateHigh", "namespace": "shop", "pod": "checkout-1"},
                "startsAt": "2025-03-01T10:00:00Z",
            },
            "logs": [{"sample": line, "count": 5}],
        }
    )
    analysis = RulesAnalyst().analyze(message)
    named = analysis.root_cause.split("unavailable:")[-1].split("(")[0]
    for wrong in ("10.1.2.3:8080", "shop", "10:42", "localhost"):
        assert wrong not in named, analysis.root_cause


def test_the_quantile_an_expression_reads_is_said_as_a_percentile() -> None:
    from services.analyst._expr import quantile_of

    assert quantile_of("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1") == "99th percentile"
    assert quantile_of('rpc_duration_seconds{quantile="0.5"} > 2') == "50th percentile"
    assert quantile_of("histogram_quantile(0.999, x)") == "99.9th percentile"
    assert quantile_of("histogram_quantile(0.02, x)") == "2nd percentile"
    assert quantile_of("histogram_quantile(0.12, x)") == "12th percentile"
    assert quantile_of("rate(x_sum[5m]) / rate(x_count[5m])") == ""


def test_fields_that_say_the_same_word_are_named_once_together() -> None:
    analysis = _alert(
        "HighCPUUsage",
        "100 - avg(rate(node_cpu_seconds_total{mode='idle'}[5m])) * 100 > 90",
        {"summary": "High CPU usage on web-1", "description": "CPU usage is above 90%"},
        instance="web-1:9100",
    )
    assert 'the alert\'s name, expression, summary and description all say "cpu"' in analysis.root_cause
    assert analysis.root_cause.count('"cpu"') == 1, analysis.root_cause
