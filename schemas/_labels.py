"""What an alert's labels name, read the same way everywhere: its service (the history's ``service``
column and filter, the console's live rows, PagerDuty's ``component``)."""

from __future__ import annotations

import re
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


# Monitoring agents report on others: a job or service named with one of these words is not what the
# alert is about. kube-prometheus labels every kube-state-metrics alert ``service="kube-state-metrics"``.
AGENT_WORDS = frozenset(
    {"exporter", "kubelet", "cadvisor", "blackbox", "prometheus", "pushgateway", "probe", "probes", "vmagent"}
)
# Job names of node agents by convention: Prometheus's own examples scrape node_exporter as job "node".
NODE_AGENT_JOBS = frozenset({"node", "nodes", "node_exporter", "node-exporter"})
# A name's words: between dashes or underscores, and at camelCase's capitals (kubeStateMetrics).
_NAME_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def names_an_agent(name: str) -> bool:
    """Whether a job or service name is a monitoring agent's: an exporter, the kubelet, Prometheus,
    kube-state-metrics. The one answer, for the console's service and for the correlation."""
    words = {word.lower() for word in _NAME_WORD.findall(name)}
    return (
        name.strip().lower() in NODE_AGENT_JOBS or bool(AGENT_WORDS & words) or {"state", "metrics"} <= words
    )


def service_of(labels: Mapping[str, str]) -> str:
    """The alert's service by SERVICE_LABELS, "" when none names one. A monitoring agent's name is
    taken only when no label names anything else: on kube-state-metrics' alerts, the pod's container
    or controller is the service, not the exporter."""
    named = [labels[name] for name in SERVICE_LABELS if labels.get(name)]
    return next((value for value in named if not names_an_agent(value)), named[0] if named else "")
