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
