"""What the enricher's Kubernetes events source needs: its own account, leave to list events, egress.

The source lists ``/api/v1/namespaces/{namespace}/events`` (a GET of a collection: verb ``list``) in
the alert's namespace, and in ``default`` for a node's events (services/enricher/_kubernetes_digest.py),
so it is granted ``list`` on events and nothing else: in every namespace by a ClusterRole, or by a
Role in each of ``kubernetesEvents.namespaces``. Only the enricher's pods mount the account's token.
"""

from __future__ import annotations

import copy
from typing import Any

from infra.kubernetes._stages import STAGE_NAMES, Stage, stages
from infra.kubernetes._values import Values
from infra.kubernetes._workloads import Manifest, labels, metadata, reads_events, service_account_name

RBAC = "rbac.authorization.k8s.io/v1"


def _readers(values: Values) -> list[Stage]:
    return [stages()[name] for name in STAGE_NAMES if reads_events(values, stages()[name])]


def _role_and_binding(kind: str, meta: dict[str, Any], subject: dict[str, str]) -> list[Manifest]:
    """A role listing events and its binding to the subject; each manifest its own dicts, to edit apart."""
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": meta["name"]}
    return [
        {
            "apiVersion": RBAC,
            "kind": kind,
            "metadata": copy.deepcopy(meta),
            "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}],
        },
        {
            "apiVersion": RBAC,
            "kind": f"{kind}Binding",
            "metadata": copy.deepcopy(meta),
            "roleRef": role_ref,
            "subjects": [subject],
        },
    ]


def _access(values: Values, stage: Stage) -> list[Manifest]:
    account = service_account_name(values, stage)
    subject = {"kind": "ServiceAccount", "name": account, "namespace": values.namespace.name}
    if not values.kubernetes_events.namespaces:
        # Cluster-wide names are shared by every namespace: the release's namespace keeps them apart.
        meta = {"name": f"{values.namespace.name}-{account}-events", "labels": labels(values, stage)}
        return _role_and_binding("ClusterRole", meta, subject)
    return [
        manifest
        for namespace in values.kubernetes_events.namespaces
        for manifest in _role_and_binding(
            "Role", {**metadata(values, f"{account}-events", stage), "namespace": namespace}, subject
        )
    ]


def events_access(values: Values) -> list[Manifest]:
    """Each reader's ServiceAccount and its leave to list events; nothing while the source is off."""
    manifests: list[Manifest] = []
    for stage in _readers(values):
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": metadata(values, service_account_name(values, stage), stage),
                # Its pods ask for the token themselves; anything else run under it gets none.
                "automountServiceAccountToken": False,
            }
        )
        manifests += _access(values, stage)
    return manifests
