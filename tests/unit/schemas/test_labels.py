"""Which label names an alert's service: one answer, the workload's name before the scrape job's."""

from __future__ import annotations

import pytest

import schemas


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        ({"app": "payments-api", "job": "kube-state-metrics"}, "payments-api"),
        ({"service": "checkout", "app": "checkout-web", "job": "checkout"}, "checkout"),
        ({"app_kubernetes_io_name": "cart", "app": "legacy-cart"}, "cart"),
        ({"deployment": "orders", "container": "sidecar", "job": "kube-state-metrics"}, "orders"),
        ({"container": "api", "job": "kubelet"}, "api"),
        ({"job": "payments"}, "payments"),  # scraped directly: the job is the application
        ({"service": "", "job": "node-exporter"}, "node-exporter"),
        ({"instance": "10.0.0.7:9100"}, ""),
        # kube-prometheus labels kube-state-metrics' alerts with the exporter's own Service.
        (
            {"service": "kube-state-metrics", "job": "kube-state-metrics", "container": "api", "pod": "p-1"},
            "api",
        ),
        ({"service": "prometheus-node-exporter", "job": "node-exporter"}, "prometheus-node-exporter"),
        ({"service": "blackbox-exporter", "app": "shop-web"}, "shop-web"),
        ({"service": "payments-exporter-bridge", "app": "x"}, "x"),  # "exporter", a word of its own
        ({"service": "metricstate"}, "metricstate"),  # no agent word, only letters in common
    ],
)
def test_the_workload_names_the_service_and_the_scrape_job_only_when_nothing_else_does(
    labels: dict[str, str], service: str
) -> None:
    assert schemas.service_of(labels) == service


def test_agents_are_known_by_their_words_not_by_letters_inside_other_words() -> None:
    assert schemas.names_an_agent("kube-state-metrics")
    assert schemas.names_an_agent("node")
    assert schemas.names_an_agent("Blackbox-Exporter")
    assert not schemas.names_an_agent("exporters-api")  # "exporters" is not the word "exporter"
    assert not schemas.names_an_agent("nodejs-shop")
    assert not schemas.names_an_agent("statemetrics")


def test_camel_case_names_are_read_word_by_word_as_the_correlation_reads_them() -> None:
    assert schemas.names_an_agent("kubeStateMetrics")
    assert schemas.names_an_agent("blackboxExporter")
    assert schemas.service_of({"container": "kubeStateMetrics", "job": "api"}) == "api"
