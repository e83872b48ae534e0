"""What the evidence says of an alert's pod (the node it runs on, its owner, the claims it mounts), of
its claim (the network share behind it) and of its probed host (the Services behind its Ingress).

kube-state-metrics series the enricher attaches (``kube_pod_info``, ``kube_pod_owner``,
``kube_pod_spec_volumes_persistentvolumeclaims_info``; ``kube_persistentvolume_info`` joined to the
claim; ``kube_ingress_path``) and the scheduler's event in the pod's events.
"""

from __future__ import annotations

import re

import schemas
from services.incidents._evidence import lines

# The scheduler's event among the Kubernetes events: Successfully assigned shop/cart-0 to ip-10-0-1-7
_ASSIGNED = re.compile(r"\bsuccessfully assigned ([a-z0-9.-]+)/([a-z0-9.-]+) to ([a-z0-9.-]+)")
_OWNER_LABELS = ("created_by_kind", "created_by_name", "owner_kind", "owner_name")


def pod_claims(evidence: schemas.Evidence, pod: str) -> list[str]:
    """Persistent volume claims the evidence's series show ``pod`` using (kube_pod_spec_volumes_...)."""
    claims = {
        series.labels["persistentvolumeclaim"]
        for metric in evidence.metrics
        for series in metric.series
        if series.labels.get("pod") == pod and series.labels.get("persistentvolumeclaim")
    }
    return sorted(claims)


def pod_placement(evidence: schemas.Evidence, pod: str, namespace: str) -> tuple[str, str]:
    """(node, node address) of ``pod`` from ``kube_pod_info`` series in the evidence or the scheduler's
    event in its lines, ("", "") if neither says."""
    for line in lines(evidence):
        if "successfully assigned" not in line:  # no scheduler's event: spares the pattern a scan
            continue
        for match in _ASSIGNED.finditer(line):
            if match.group(2) == pod.lower() and (not namespace or match.group(1) == namespace.lower()):
                return match.group(3), ""
    for metric in evidence.metrics:
        if "kube_pod_info" not in metric.name and "kube_pod_info" not in metric.query:
            continue
        for series in metric.series:
            labels = series.labels
            if labels.get("pod") != pod or (namespace and labels.get("namespace", namespace) != namespace):
                continue
            if labels.get("node"):
                return labels["node"], labels.get("host_ip", "")
    return "", ""


def pod_owner(evidence: schemas.Evidence, pod: str, namespace: str) -> dict[str, str]:
    """The owner labels of ``pod`` in the evidence's ``kube_pod_info`` / ``kube_pod_owner`` series
    (``created_by_kind``/``created_by_name``, ``owner_kind``/``owner_name``), {} if none says."""
    for metric in evidence.metrics:
        if not any(name in f"{metric.name} {metric.query}" for name in ("kube_pod_info", "kube_pod_owner")):
            continue
        for series in metric.series:
            labels = series.labels
            if labels.get("pod") != pod or (namespace and labels.get("namespace", namespace) != namespace):
                continue
            owner = {key: labels[key] for key in _OWNER_LABELS if labels.get(key)}
            if owner:
                return owner
    return {}


def claim_shares(evidence: schemas.Evidence, claim: str, namespace: str) -> list[tuple[str, str]]:
    """(server, path) of the NFS share behind ``claim``: the ``nfs_server`` and ``nfs_path`` of its
    PersistentVolume in the evidence's series (``kube_persistentvolume_info`` joined to the claim)."""
    shares = {
        (labels["nfs_server"], labels["nfs_path"])
        for metric in evidence.metrics
        for labels in (series.labels for series in metric.series)
        if labels.get("persistentvolumeclaim") == claim
        and labels.get("namespace", namespace) == namespace
        and labels.get("nfs_server")
        and labels.get("nfs_path", "").startswith("/")
    }
    return sorted(shares)


def ingress_backends(evidence: schemas.Evidence, host: str, path: str = "/") -> list[str]:
    """``namespace/service`` of the Services an Ingress sends ``host``'s ``path`` to (``kube_ingress_path``):
    those of the longest Ingress path that is a prefix of ``path`` ("/healthz" is not "/admin"'s)."""
    routes: dict[str, set[str]] = {}
    for metric in evidence.metrics:
        for labels in (series.labels for series in metric.series):
            if labels.get("host", "").lower() != host or not labels.get("service_name"):
                continue
            if not labels.get("namespace"):
                continue
            prefix = labels.get("path", "") or "/"
            if path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/":
                routes.setdefault(prefix, set()).add(f"{labels['namespace']}/{labels['service_name']}")
    if not routes:
        return []
    return sorted(routes[max(routes, key=len)])
