"""Who holds a service-account token, and what it may do: the Kubernetes events reader, no one else.

A pod mounts its token only when it is the stage reading Kubernetes events (the one whose settings
include KUBERNETES_API_URL) on the in-cluster API, under an account no other Deployment uses, bound
to a role that reads events; and every role in the set reads events and nothing more.
"""

from __future__ import annotations

from infra.kubernetes._pod_rules import Manifest
from infra.kubernetes._query import COMPONENT, config_of, ident, of_kind, pod_labels
from infra.kubernetes._stages import stages
from services.enricher._kubernetes_events import KubernetesEvents

READ_VERBS = frozenset({"get", "list", "watch"})


def _account(deployment: Manifest) -> tuple[str, str]:
    pod = deployment["spec"]["template"]["spec"]
    return deployment["metadata"].get("namespace", ""), pod.get("serviceAccountName") or "default"


def _bound(manifests: list[Manifest], account: tuple[str, str]) -> bool:
    """Whether a binding in the set gives the account a role rendered in the set."""
    namespace, name = account
    roles = {
        (role["kind"], role["metadata"].get("namespace", ""), role["metadata"]["name"])
        for role in (*of_kind(manifests, "Role"), *of_kind(manifests, "ClusterRole"))
    }
    for binding in (*of_kind(manifests, "RoleBinding"), *of_kind(manifests, "ClusterRoleBinding")):
        ref = binding.get("roleRef") or {}
        scope = binding["metadata"].get("namespace", "") if ref.get("kind") == "Role" else ""
        subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        if subject in (binding.get("subjects") or []) and (ref.get("kind"), scope, ref.get("name")) in roles:
            return True
    return False


def token_problems(manifests: list[Manifest]) -> list[str]:
    found = []
    deployments = list(of_kind(manifests, "Deployment"))
    setting = KubernetesEvents.setting
    for deployment in deployments:
        if deployment["spec"]["template"]["spec"].get("automountServiceAccountToken") is False:
            continue
        where, account = ident(deployment), _account(deployment)
        stage = stages().get(pod_labels(deployment).get(COMPONENT, ""))
        if stage is None or setting not in stage.plain_env:
            found.append(f"{where}: the service account token is mounted (automountServiceAccountToken)")
            continue
        url = config_of(manifests, deployment).get(setting, "")
        if url.strip():
            found.append(f"{where}: mounts its token, but {setting} {url!r} is not the in-cluster API")
        sharing = [
            ident(other) for other in deployments if other is not deployment and _account(other) == account
        ]
        if sharing:
            found.append(f"{where}: mounts the token of {account[1]}, which {', '.join(sharing)} run as too")
        if not _bound(manifests, account):
            found.append(f"{where}: mounts its token, but no binding here gives {account[1]} a role")
    return found


def role_problems(manifests: list[Manifest]) -> list[str]:
    found = []
    for role in (*of_kind(manifests, "Role"), *of_kind(manifests, "ClusterRole")):
        for rule in role.get("rules") or []:
            reads_events = (
                set(rule.get("apiGroups") or []) == {""}
                and set(rule.get("resources") or []) == {"events"}
                and set(rule.get("verbs") or []) <= READ_VERBS
            )
            if not reads_events or rule.get("nonResourceURLs"):
                found.append(
                    f"{ident(role)}: grants more than reading events"
                    f" ({rule.get('verbs')} on {rule.get('resources') or rule.get('nonResourceURLs')})"
                )
    return found


def access_problems(manifests: list[Manifest]) -> list[str]:
    return token_problems(manifests) + role_problems(manifests)
