"""One NetworkPolicy per stage: what may reach it, and the only places it may reach.

In: /metrics from ``metricsFrom`` on every stage, the webhook from ``webhookFrom`` on ingest, the pages
and API from ``consoleFrom`` on the console, nothing else (kubelet probes are not subject to
NetworkPolicy). Out: DNS, the NATS servers' client port, and the stage's own backends from values
(Prometheus and Loki; the LLM; the notification destinations; PostgreSQL for history and the console;
the API server for the enricher reading Kubernetes events).
"""

from __future__ import annotations

from typing import Any

from infra.kubernetes import _nats
from infra.kubernetes._stages import Stage
from infra.kubernetes._values import Values
from infra.kubernetes._workloads import Manifest, metadata, name_of, reads_events, selector_labels


def _dns() -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }


def _nats_servers(values: Values) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": values.nats.namespace}},
                "podSelector": {"matchLabels": _nats.server_labels(values)},
            }
        ],
        "ports": [{"port": values.nats.client_port, "protocol": "TCP"}],
    }


def _api_server(values: Values) -> dict[str, Any]:
    """The API server at the addresses and port given: a NetworkPolicy cannot name it portably, and
    most network plugins judge the traffic after the ``kubernetes`` Service's address is translated."""
    api_server = values.kubernetes_events.api_server
    return {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in api_server.cidrs],
        "ports": [{"port": api_server.port, "protocol": "TCP"}],
    }


def network_policy(values: Values, stage: Stage) -> Manifest:
    port = [{"port": stage.port, "protocol": "TCP"}]
    peers = list(values.metrics_from)
    clients = {"ingest": values.webhook_from, "console": values.console_from}.get(stage.name, [])
    peers += [peer for peer in clients if peer not in peers]
    # A rule with no peers would admit every source, so no peers means no rule at all.
    ingress = [{"from": peers, "ports": port}] if peers else []
    egress = [_dns(), _nats_servers(values), *values.egress, *values.stages[stage.name].egress]
    if reads_events(values, stage):
        egress.append(_api_server(values))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(values, stage)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
