"""What an alert's labels name, read the same way everywhere: its service (the history's ``service``
column and filter, the console's live rows, PagerDuty's ``component``)."""

from __future__ import annotations

from collections.abc import Mapping

# The first of these an alert carries names its service. The workload's own names come first: an
# explicit ``service``; Kubernetes' recommended app name (``app.kubernetes.io/name``, which Prometheus
# spells ``app_kubernetes_io_name``); the older ``app`` and ``k8s_app``; the controller running its
# pods; its container. ``job`` comes last: it is the Prometheus scrape job, which on an exporter's
# metric names the exporter (kube-state-metrics, node-exporter, blackbox), not the workload the alert is
# about; it names the service only when nothing else does (an application scraped directly).
SERVICE_LABELS = (
    "service",
    "app_kubernetes_io_name",
    "app",
    "k8s_app",
    "deployment",
    "statefulset",
    "daemonset",
    "container",
    "job",
)


def service_of(labels: Mapping[str, str]) -> str:
    """The alert's service by SERVICE_LABELS, "" when none names one."""
    return next((labels[name] for name in SERVICE_LABELS if labels.get(name)), "")
