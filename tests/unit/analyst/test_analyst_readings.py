"""What the text says an alert measures: a limit the software sets, a threshold with no objective, a
state the target reports. Each alert here is written for its case, with the expression it would
carry in its generatorURL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import schemas
from services.analyst import RulesAnalyst
from services.analyst._expr import error_selector_of, measures_of
from services.analyst._view import TextItem, derived_facts
from services.analyst.eval import build_message

ANALYST = RulesAnalyst()


def _analysis(
    name: str, expr: str, annotations: dict[str, str] | None = None, **extra: Any
) -> schemas.Analysis:
    data = {
        "alert": {
            "labels": {"alertname": name, "instance": "store-2.shop.internal:9000", "job": "store"},
            "annotations": annotations or {},
            "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
            "startsAt": "2024-05-14T09:12:00Z",
        },
        **extra,
    }
    return ANALYST.analyze(build_message(data))


def _prose(analysis: schemas.Analysis) -> str:
    return f"{analysis.summary}\n{analysis.root_cause}"


def test_a_redis_near_its_maxmemory_evicts_or_refuses_writes_and_nothing_is_killed() -> None:
    analysis = _analysis(
        "SessionCacheMaxmemoryNear",
        "redis_memory_used_bytes / redis_memory_max_bytes > 0.92 and redis_memory_max_bytes > 0",
        {"summary": "Session cache close to its maxmemory"},
    )
    assert analysis.category == "memory_pressure"
    text = _prose(analysis)
    assert "OOM-kill" not in text
    assert "maxmemory" in analysis.summary
    assert "evicts keys" in text
    assert "refuses writes" in text
    steps = "\n".join(analysis.remediation)
    assert "redis-cli" in steps
    assert "maxmemory-policy" in steps
    assert "ps aux" not in steps  # the process's RSS is not what Redis counts against maxmemory


def test_a_jvm_heap_near_its_maximum_reads_as_gc_pressure_and_outofmemoryerror() -> None:
    analysis = _analysis(
        "LedgerHeapAlmostFull",
        'jvm_memory_used_bytes{area="heap",job="ledger"}'
        ' / jvm_memory_max_bytes{area="heap",job="ledger"} > 0.9',
        {"summary": "Ledger JVM heap above 90% of its maximum"},
    )
    text = _prose(analysis)
    assert "OOM-kill" not in text
    assert "-Xmx" in text
    assert "garbage collection" in text
    assert "OutOfMemoryError" in text
    assert any("jcmd" in step for step in analysis.remediation)


def test_runtime_heaps_say_what_their_runtime_does_at_the_limit() -> None:
    node = _analysis("RendererHeapHigh", "nodejs_heap_size_used_bytes / nodejs_heap_size_total_bytes > 0.95")
    assert "JavaScript heap out of memory" in node.root_cause
    assert "OOM-kill" not in _prose(node)
    go = _analysis("IndexerHeapGrowing", "go_memstats_heap_inuse_bytes > 4e9")
    # Go has no heap maximum of its own: only a container's or host's limit ends in a kill.
    assert "GOMEMLIMIT" in go.root_cause


def test_a_container_near_its_limit_is_the_one_case_that_ends_in_a_kill() -> None:
    analysis = _analysis(
        "WorkerMemoryNearLimit",
        "container_memory_working_set_bytes / container_spec_memory_limit_bytes > 0.9",
    )
    assert "OOM-kills the container" in analysis.root_cause
    assert "nears" in analysis.root_cause  # not yet killed


def _logs(*samples: str) -> list[dict[str, Any]]:
    return [{"severity": "error", "count": 3, "sample": sample} for sample in samples]


def test_a_runtime_reporting_its_own_allocation_failure_was_not_oom_killed() -> None:
    thrown = _analysis(
        "LedgerErrors",
        "sum(rate(ledger_errors_total[5m])) > 1",
        logs=_logs('Exception in thread "batch-3" java.lang.OutOfMemoryError: Java heap space'),
    )
    assert thrown.category == "memory_pressure"
    assert "OOM-kill" not in _prose(thrown)
    assert "OutOfMemoryError" in thrown.root_cause
    killed = _analysis(
        "LedgerErrors",
        "sum(rate(ledger_errors_total[5m])) > 1",
        logs=_logs(
            'Exception in thread "batch-3" java.lang.OutOfMemoryError: Java heap space',
            "Container ledger was OOMKilled (exit code 137)",
        ),
    )
    assert "OOM-killed" in killed.root_cause


def test_a_latency_threshold_with_no_objective_says_what_it_measures() -> None:
    analysis = _analysis(
        "SearchP99TooSlow",
        "histogram_quantile(0.99, sum by (le) (rate(search_request_duration_seconds_bucket[5m]))) > 0.5",
        {"summary": "Search p99 latency above 500ms", "description": "Searches respond slowly."},
    )
    text = _prose(analysis)
    assert "SLO" not in text
    assert "slower than the objective" not in text
    assert "99th percentile" in analysis.summary
    assert "threshold" in analysis.summary
    average = _analysis(
        "SearchLatencyHigh",
        "rate(search_request_duration_seconds_sum[5m])"
        " / rate(search_request_duration_seconds_count[5m]) > 0.3",
    )
    assert "average duration" in average.summary
    assert "SLO" not in _prose(average)


def test_an_alert_that_names_its_objective_keeps_the_objective_wording() -> None:
    analysis = _analysis(
        "SearchLatencySLO",
        "histogram_quantile(0.99, sum by (le) (rate(search_request_duration_seconds_bucket[5m]))) > 0.5",
        {"summary": "Search latency breaches its SLO"},
    )
    assert "SLO" in analysis.summary
    assert "objective" in analysis.root_cause


def test_an_error_ratio_with_no_objective_claims_no_error_budget() -> None:
    plain = _analysis(
        "UploadHighErrorRate",
        'sum(rate(upload_requests_total{code=~"5.."}[5m])) / sum(rate(upload_requests_total[5m])) > 0.05',
    )
    assert "error budget" not in _prose(plain)
    assert "objective," not in plain.summary
    assert "threshold" in plain.summary
    budget = _analysis("UploadErrorBudgetBurn", "slo:upload_errors:burnrate1h > 14.4")
    assert "error budget" in budget.root_cause


LATENCY_STEPS = ("http_request_duration_seconds_bucket", "latency of its dependencies")


def test_a_count_of_slow_things_says_what_is_slow_and_counts_it_not_a_latency() -> None:
    queries = _analysis("OrdersDbSlowQueries", "rate(mysql_global_status_slow_queries[5m]) > 0.5")
    assert "slow queries counted" in queries.summary
    assert "reports more slow queries" in queries.root_cause
    assert "mysql_global_status_slow_queries" in queries.root_cause
    consumers = _analysis("BusSlowConsumers", "gnatsd_varz_slow_consumers > 0")
    assert "slow consumers counted" in consumers.summary
    jobs = _analysis("ReportJobsSlowToComplete", "kube_job_spec_completions - kube_job_status_succeeded > 0")
    assert "a count above the alert's threshold, not a duration" in jobs.summary
    for analysis in (queries, consumers, jobs):
        assert "duration" not in analysis.root_cause.replace("not a duration", "")
        steps = "\n".join(analysis.remediation)
        assert not any(step in steps for step in LATENCY_STEPS), steps
    assert any("slow query log" in step for step in queries.remediation)
    assert any("describe job" in step for step in jobs.remediation)
    # A duration keeps the latency wording.
    timed = _analysis("RuleEvaluationSlow", "prometheus_rule_group_last_duration_seconds > 10")
    assert "duration the alert's expression measures" in timed.root_cause
    # ... and the latency steps, on its own metric rather than HTTP requests'.
    assert any(LATENCY_STEPS[1] in step for step in timed.remediation)
    assert any("`prometheus_rule_group_last_duration_seconds{" in step for step in timed.remediation)


def test_a_latency_objectives_budget_burn_reads_as_latency_not_as_errors() -> None:
    named = _analysis("CheckoutLatencyBudgetBurn", "slo:checkout_latency:burnrate1h > 14.4")
    # A burn of a latency objective's budget measured on a duration histogram, whatever its name.
    measured = _analysis("ErrorBudgetBurn", 'http_request_duration_seconds:burnrate5m{slo="checkout"} > 14.4')
    for analysis in (named, measured):
        assert analysis.model == "rules:slo-latency", analysis.model
        assert "slower than the SLO" in analysis.summary
        assert "errors" not in _prose(analysis)
        assert not any("Error ratio" in step for step in analysis.remediation)
    # An errors objective's burn stays an error burn, the slow burn of its budget too.
    errors = _analysis("ErrorBudgetBurn", "slo:checkout_errors:burnrate5m > 14.4")
    slow_burn = _analysis("ErrorBudgetSlowBurn", "slo:checkout_errors:burnrate6h > 6")
    assert errors.model == slow_burn.model == "rules:slo-error-ratio"
    # A histogram's _count counts requests: an error ratio read from it measures no duration.
    counted = _analysis(
        "CheckoutHighErrorRate",
        'sum(rate(http_request_duration_seconds_count{code=~"5.."}[5m]))'
        " / sum(rate(http_request_duration_seconds_count[5m])) > 0.05",
    )
    assert counted.model == "rules:slo-error-ratio"


UNREACHABLE = ("unreachable", "not answering", "is down", "down or")


def test_a_state_the_target_reports_is_not_read_as_unreachable() -> None:
    sealed = _analysis(
        "SecretsStoreSealed",
        "secrets_store_unsealed == 0",
        {
            "summary": "Secrets store sealed",
            "description": "The secrets store is sealed and serves no secrets.",
        },
    )
    assert sealed.category == "availability"
    text = _prose(sealed)
    assert not any(word in text for word in UNREACHABLE), text
    assert '"sealed"' in sealed.root_cause
    assert "state" in sealed.summary
    assert not any("curl -sv" in step for step in sealed.remediation)
    unit = _analysis(
        "BillingUnitFailed", 'node_systemd_unit_state{name="billing.service",state="failed"} == 1'
    )
    assert not any(word in _prose(unit) for word in UNREACHABLE)


def test_a_state_named_beside_a_down_word_is_still_a_state() -> None:
    read_only = _analysis(
        "IndexClusterReadOnly",
        "index_cluster_blocked_writes == 1",
        {"summary": "Index cluster unavailable for writes: it switched to read-only"},
    )
    assert read_only.category == "availability"
    assert not any(word in _prose(read_only) for word in UNREACHABLE)
    assert "read only" in read_only.root_cause


def test_a_state_word_on_a_failed_scrape_is_still_unreachable() -> None:
    # `up == 0` measures the scrape itself: whatever the name says, Prometheus did not reach it.
    scraped = _analysis("LedgerUnhealthy", 'up{job="ledger"} == 0')
    assert "down or unreachable" in scraped.summary
    assert any("curl -sv" in step for step in scraped.remediation)


def test_a_container_killed_reads_as_killed_with_its_reason_not_as_unreachable() -> None:
    on_host = _analysis(
        "WorkerContainerKilled",
        'time() - container_last_seen{name=~"worker.*"} > 60',
        {"summary": "Worker killed"},
    )
    in_cluster = ANALYST.analyze(
        build_message(
            {
                "alert": {
                    "labels": {
                        "alertname": "LedgerContainerTerminated",
                        "namespace": "ledger",
                        "pod": "ledger-0",
                    },
                    "generatorURL": "http://prometheus:9090/graph?g0.expr="
                    + quote_plus('kube_pod_container_status_terminated_reason{reason=~"Evicted|Error"} > 0'),
                    "startsAt": "2024-05-14T09:12:00Z",
                }
            }
        )
    )
    for analysis in (on_host, in_cluster):
        assert analysis.category == "availability"
        assert "a container was killed" in analysis.summary
        assert not any(word in _prose(analysis) for word in UNREACHABLE), _prose(analysis)
        assert not any("curl -sv" in step for step in analysis.remediation)
    # The reasons its expression selects, and steps that read the reason.
    assert "(reasons Evicted, Error)" in in_cluster.summary
    steps = "\n".join(in_cluster.remediation)
    assert "kubectl -n ledger describe pod ledger-0" in steps
    assert "lastState.terminated.reason" in steps
    assert "reason=Evicted" in steps
    assert any("docker inspect" in step for step in on_host.remediation)


def test_an_error_ratio_step_asks_the_series_and_code_label_the_alert_itself_reads() -> None:
    # The step queried http_requests_total{code=~"5.."} whatever the alert read: pasted for an ingress
    # that labels its codes `status`, it returned nothing.
    analysis = _analysis(
        "CheckoutHighErrorRate",
        'sum(rate(nginx_ingress_controller_requests{ingress="checkout",status=~"5.."}[5m]))'
        ' / sum(rate(nginx_ingress_controller_requests{ingress="checkout"}[5m])) > 0.05',
        {"summary": "Checkout 5xx error ratio above 5%"},
    )
    steps = "\n".join(analysis.remediation)
    assert 'nginx_ingress_controller_requests{job="store",status=~"5.."}' in steps
    assert "sum by (route, status)" in steps
    assert "ignoring(status)" in steps
    assert "http_requests_total" not in steps
    assert "code=~" not in steps


def test_a_probe_calling_two_wrong_ports_says_ports() -> None:
    lines = [
        "Readiness probe failed: Get http://10.0.0.7:8081/ready: dial tcp 10.0.0.7:8081: connection refused",
        "Liveness probe failed: Get http://10.0.0.7:8080/live: dial tcp 10.0.0.7:8080: connection refused",
        "server listening on port 9000",
    ]
    facts = derived_facts([TextItem("log", line, line, 1, line) for line in lines])
    assert [fact.text for fact in facts] == [
        "probe port mismatch: the probe calls ports 8080, 8081, the process listens on 9000"
    ]


def test_a_latency_step_asks_the_request_histogram_the_alert_itself_reads() -> None:
    # It asked http_request_duration_seconds_bucket whatever the alert read: an ingress controller's
    # histogram has another name, and the pasted query returned nothing.
    analysis = _analysis(
        "ShopLatencyHigh",
        "histogram_quantile(0.99, sum by (le) (rate("
        'nginx_ingress_controller_request_duration_seconds_bucket{ingress="shop"}[5m]))) > 0.5',
        {"summary": "Shop p99 latency above 500ms"},
    )
    steps = "\n".join(analysis.remediation)
    assert "rate(nginx_ingress_controller_request_duration_seconds_bucket{" in steps
    assert "http_request_duration_seconds_bucket" not in steps


def test_a_duration_that_times_no_request_is_not_called_slow_requests() -> None:
    # Any expression with a histogram or _duration_seconds read "requests are slow", a rule group's
    # evaluation time included.
    analysis = _analysis(
        "RuleEvaluationCpuBound",
        "histogram_quantile(0.99, sum by (le)"
        " (rate(prometheus_rule_group_duration_seconds_bucket[5m]))) > 10",
        {"summary": "Rule evaluation is slow: the server's CPU is saturated"},
    )
    assert "requests" not in _prose(analysis).lower()
    assert "`prometheus_rule_group_duration_seconds_bucket` takes longer than" in analysis.summary


def test_only_a_code_or_status_label_is_taken_for_the_error_code() -> None:
    assert error_selector_of('rate(api_requests_total{version=~"5.*"}[5m])') == ("", "")
    assert error_selector_of('rate(api_requests_total{grpc_code=~"5.."}[5m])') == (
        "api_requests_total",
        "grpc_code",
    )
    assert error_selector_of('api_latency_bucket{le="500"}') == ("", "")


def test_a_percentage_a_score_and_nanoseconds_are_read_as_what_they_measure() -> None:
    # The unit words were compared unstemmed: "percentage" never matched, and a share read as a count.
    assert measures_of("sum(rate(checkout_failed_percentage[5m])) > 5") == "ratio"
    assert measures_of("checkout_apdex_score < 0.8") == "ratio"
    assert measures_of("histogram_quantile(0.9, rate(rpc_handle_ns_bucket[5m])) > 3e6") == "duration"
    assert measures_of("rpc_handle_ns_sum / rpc_handle_ns_count > 3e6") == "duration"
