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
    ],
)
def test_the_workload_names_the_service_and_the_scrape_job_only_when_nothing_else_does(
    labels: dict[str, str], service: str
) -> None:
    assert schemas.service_of(labels) == service
