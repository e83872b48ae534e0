"""The steps a person on call copies and runs: each query reads the series the alert read.

Each case is an alert written for the test; the assertions are on the steps as they are pasted.
"""

from __future__ import annotations

from urllib.parse import quote_plus

import schemas
from services.analyst import RulesAnalyst
from services.analyst._promql_text import scoped_queries
from services.analyst.eval import build_message

ANALYST = RulesAnalyst()


def _analysis(name: str, expr: str, labels: dict[str, str]) -> schemas.Analysis:
    message = build_message(
        {
            "alert": {
                "labels": {"alertname": name, **labels},
                "generatorURL": "http://prometheus:9090/graph?g0.expr=" + quote_plus(expr),
                "startsAt": "2024-05-14T09:12:00Z",
            }
        }
    )
    return ANALYST.analyze(message)


def test_a_stand_in_is_filled_from_the_expressions_own_matcher() -> None:
    # The aggregation drops the job from the alert's labels; the expression still names it.
    steps = "\n".join(_analysis("InstanceDown", 'sum(up{job="billing-worker"}) == 0', {}).remediation)
    assert 'up{job="billing-worker"} == 0' in steps
    assert '"<job>"' not in steps


def test_the_selector_of_the_same_metric_decides_between_two_values() -> None:
    expr = 'count(kube_node_info{job="kube-state-metrics"}) unless count(up{job="edge-proxy"} == 1)'
    assert scoped_queries('`up{job="<job>"} == 0`', expr) == '`up{job="edge-proxy"} == 0`'
    # Another metric's query: the expression gives the job two values, neither of them its own.
    other = '`rate(http_requests_total{job="<job>"}[5m])`'
    assert scoped_queries(other, expr) == other


def test_an_exporters_job_fills_only_the_exporters_own_metrics() -> None:
    expr = 'sum(kube_pod_info{job="kube-state-metrics"}) > 0'
    other = '`rate(http_requests_total{job="<job>"}[5m])`'
    assert scoped_queries(other, expr) == other
    assert scoped_queries('`kube_pod_info{job="<job>"}`', expr) == '`kube_pod_info{job="kube-state-metrics"}`'


def test_a_regex_or_a_negated_matcher_fills_nothing() -> None:
    step = '`up{job="<job>"}`'
    assert scoped_queries(step, 'up{job=~"api|web"} == 0') == step
    assert scoped_queries(step, 'up{job!="api"} == 0') == step
    assert scoped_queries(step, 'up{job=~"api"} == 0') == '`up{job="api"}`'
    # A dot is a pattern unless it joins two names: "api-.." pasted as a value would select nothing.
    assert scoped_queries(step, 'up{job=~"api-.."} == 0') == step
    assert scoped_queries(step, 'up{job=~"edge.shop.internal"} == 0') == '`up{job="edge.shop.internal"}`'


HOST = {"job": "batch", "instance": "batch-3:9102"}


def _steps(name: str, expr: str, labels: dict[str, str] = HOST) -> str:
    analysis = _analysis(name, expr, labels)
    assert analysis.model == "rules:slo-latency"
    return "\n".join(analysis.remediation)


def test_a_duration_that_times_no_request_is_read_from_its_own_metric() -> None:
    gauge = _steps("ReportBuildSlow", "report_build_last_duration_seconds > 600")
    assert "http_request" not in gauge
    assert '`report_build_last_duration_seconds{job="batch",instance="batch-3:9102"}`' in gauge
    summary = _steps("TranscodeLatencyHigh", 'transcode_duration_seconds{quantile="0.99"} > 30')
    assert "http_request" not in summary
    assert 'transcode_duration_seconds{job="batch",instance="batch-3:9102"}' in summary
    histogram = _steps(
        "ConsensusRoundSlow",
        "histogram_quantile(0.95, sum by (le) (rate(consensus_round_duration_seconds_bucket[5m]))) > 0.5",
    )
    assert "http_request" not in histogram
    assert "rate(consensus_round_duration_seconds_bucket{" in histogram


def test_a_duration_of_requests_keeps_the_request_histogram_steps() -> None:
    steps = _steps(
        "ShopLatencyHigh",
        "histogram_quantile(0.99, sum by (le)"
        ' (rate(http_server_request_duration_seconds_bucket{job="shop"}[5m]))) > 1',
        {"job": "shop"},
    )
    # the request histogram the alert reads, by its own name
    assert 'http_server_request_duration_seconds_bucket{job="shop"}' in steps
    assert 'http_requests_total{job="shop"}' in steps
