"""NATS as the official chart runs it: the values that chart needs, and where the stages find it.

The chart is its own Helm release (clusters run one NATS for many users), so the stages reach it by
its service names; KEDA reads consumer lag from the monitoring port of the headless service, whose
per-pod names (``nats-0.nats-headless...``) it needs to find each consumer's Raft leader.
"""

from __future__ import annotations

from typing import Any

from infra.kubernetes._values import Values


# The labels the official chart puts on its server pods.
def server_labels(values: Values) -> dict[str, str]:
    return {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": values.nats.release}


def _host(values: Values, service: str) -> str:
    return f"{service}.{values.nats.namespace}.svc.{values.cluster_domain}"


def client_url(values: Values) -> str:
    return f"nats://{_host(values, values.nats.release)}:{values.nats.client_port}"


def monitoring_endpoint(values: Values) -> str:
    return f"{_host(values, values.nats.release + '-headless')}:{values.nats.monitor_port}"


def chart_values(values: Values) -> dict[str, Any]:
    """Values for ``helm install <release> nats/nats``: JetStream on a file store, a cluster of N."""
    nats = values.nats
    pvc: dict[str, Any] = {"enabled": True, "size": nats.storage_size}
    if nats.storage_class:
        pvc["storageClassName"] = nats.storage_class
    return {
        # Fixed names, whatever the release is called: the stages and KEDA address these services.
        "fullnameOverride": nats.release,
        "config": {
            "cluster": {"enabled": nats.replicas > 1, "replicas": nats.replicas},
            "jetstream": {"enabled": True, "fileStore": {"enabled": True, "dir": "/data", "pvc": pvc}},
            "monitor": {"enabled": True, "port": nats.monitor_port},
            "nats": {"port": nats.client_port},
        },
        # One server per node where possible: two of three must survive for the stream to take writes.
        "podTemplate": {
            "topologySpreadConstraints": {
                "kubernetes.io/hostname": {"maxSkew": 1, "whenUnsatisfiable": "ScheduleAnyway"}
            }
        },
        "natsBox": {"enabled": True},
    }
