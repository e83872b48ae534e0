"""infra/kubernetes `kubernetesEvents:`: the enricher alone mounts a token, allowed to list events only."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from infra.kubernetes import ValuesError, load_values, problems, render
from infra.kubernetes.__main__ import main
from infra.kubernetes._stages import STAGE_NAMES
from services.enricher._kubernetes_digest import plan

KUBERNETES = "1.33"
Manifest = dict[str, Any]
ON = [
    "kubernetesEvents.enabled=true",
    "kubernetesEvents.apiServer.cidrs=[10.0.0.1/32]",
    "kubernetesEvents.apiServer.port=6443",
]
LIST_EVENTS = [{"apiGroups": [""], "resources": ["events"], "verbs": ["list"]}]
API_SERVER = {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"port": 6443, "protocol": "TCP"}]}


@pytest.fixture(scope="module")
def events_on() -> list[Manifest]:
    return render(load_values(sets=ON))


def _of(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def _find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in _of(manifests, kind) if m["metadata"]["name"] == name]
    return found


def _pod(manifests: list[Manifest], stage: str) -> Manifest:
    pod: Manifest = _find(manifests, "Deployment", f"aiops-{stage}")["spec"]["template"]["spec"]
    return pod


def _valid(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        if manifest["apiVersion"] != "keda.sh/v1alpha1":
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_off_by_default_no_pod_mounts_a_token_and_nothing_is_granted() -> None:
    manifests = render(load_values())
    for stage in STAGE_NAMES:
        assert _pod(manifests, stage)["automountServiceAccountToken"] is False
        assert _pod(manifests, stage)["serviceAccountName"] == "aiops"
    rbac = [m for m in manifests if m["apiVersion"].startswith("rbac.")]
    assert rbac == []
    assert [m["metadata"]["name"] for m in _of(manifests, "ServiceAccount")] == ["aiops"]


def test_on_the_enricher_alone_mounts_its_own_accounts_token(events_on: list[Manifest]) -> None:
    for stage in STAGE_NAMES:
        pod = _pod(events_on, stage)
        if stage == "enricher":
            assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (
                "aiops-enricher",
                True,
            )
        else:
            assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("aiops", False)
    account = _find(events_on, "ServiceAccount", "aiops-enricher")
    assert account["metadata"]["namespace"] == "aiops"
    # It asks for no token itself: only the enricher's pod spec does.
    assert account["automountServiceAccountToken"] is False
    # The in-cluster API is what the source reads; a URL would send the token elsewhere.
    assert "KUBERNETES_API_URL" not in _find(events_on, "ConfigMap", "aiops-enricher")["data"]


def test_on_every_namespace_the_enricher_may_list_events_and_nothing_else(events_on: list[Manifest]) -> None:
    (role,) = _of(events_on, "ClusterRole")
    assert role["rules"] == LIST_EVENTS
    assert "namespace" not in role["metadata"]
    (binding,) = _of(events_on, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "aiops-enricher", "namespace": "aiops"}]
    assert not _of(events_on, "Role")
    assert not _of(events_on, "RoleBinding")


def test_listing_is_the_verb_every_request_of_the_source_needs() -> None:
    """The source GETs collections (verb list), never one event (get) nor a watch."""
    labels = {"namespace": "shop", "pod": "api-0", "deployment": "api", "node": "ip-10-0-1-7"}
    lookups = plan(labels) + plan({"namespace": "shop", "pod": "api-0"})
    assert {lookup.namespace for lookup in lookups} == {"shop", "default"}
    for lookup in lookups:
        assert re.fullmatch(r"/api/v1/namespaces/[a-z0-9-]+/events", lookup.path)


def test_only_the_enricher_may_reach_the_api_server(events_on: list[Manifest]) -> None:
    for stage in STAGE_NAMES:
        egress = _find(events_on, "NetworkPolicy", f"aiops-{stage}")["spec"]["egress"]
        assert (API_SERVER in egress) == (stage == "enricher")


def test_on_the_set_satisfies_the_schemas_and_every_rule(events_on: list[Manifest]) -> None:
    _valid(events_on)
    assert problems(events_on) == []


def test_listed_namespaces_get_a_role_each_and_no_cluster_role() -> None:
    manifests = render(load_values(sets=[*ON, "kubernetesEvents.namespaces=[shop, default]"]))
    roles = _of(manifests, "Role")
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["default", "shop"]
    assert all(role["rules"] == LIST_EVENTS for role in roles)
    for binding in _of(manifests, "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "aiops-enricher", "namespace": "aiops"}
        ]
    assert len(_of(manifests, "RoleBinding")) == 2
    assert not _of(manifests, "ClusterRole")
    assert not _of(manifests, "ClusterRoleBinding")
    _valid(manifests)
    assert problems(manifests) == []


def test_check_passes_the_set_with_events_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", *(arg for value in ON for arg in ("--set", value))]) == 0
    assert capsys.readouterr().out.rstrip().endswith("manifests, 0 problems")


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["kubernetesEvents.enabled=true"],
            "kubernetesEvents.apiServer needs the API server's cidrs and port",
        ),
        (
            [*ON[:2], "kubernetesEvents.apiServer.port=0"],
            "kubernetesEvents.apiServer needs the API server's cidrs and port",
        ),
        (
            [*ON, "stages.enricher.env.KUBERNETES_API_URL=https://kube.example:6443"],
            "kubernetesEvents reads this cluster's API server: leave KUBERNETES_API_URL unset for enricher",
        ),
    ],
)
def test_events_without_what_they_need_are_refused(sets: list[str], message: str) -> None:
    with pytest.raises(ValuesError, match=re.escape(message)):
        load_values(sets=sets)


def _enricher_config(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = _find(manifests, "ConfigMap", "aiops-enricher")["data"]
    return data


BREAKS: dict[str, tuple[Callable[[list[Manifest]], object], str]] = {
    "another stage mounts a token": (
        lambda m: _pod(m, "analyst").update(automountServiceAccountToken=True),
        "Deployment/aiops-analyst: the service account token is mounted (automountServiceAccountToken)",
    ),
    "the token sent to another API server": (
        lambda m: _enricher_config(m).update(KUBERNETES_API_URL="https://kube.example:6443"),
        "aiops-enricher: mounts its token, but KUBERNETES_API_URL 'https://kube.example:6443' is not",
    ),
    "the token kept with the source off": (
        lambda m: _enricher_config(m).update(KUBERNETES_API_URL="off"),
        "KUBERNETES_API_URL 'off' is not the in-cluster API",
    ),
    "the account shared": (
        lambda m: _pod(m, "notifier").update(serviceAccountName="aiops-enricher"),
        "aiops-enricher: mounts the token of aiops-enricher, which Deployment/aiops-notifier run as",
    ),
    "no binding": (
        lambda m: m.remove(_of(m, "ClusterRoleBinding")[0]),
        "Deployment/aiops-enricher: mounts its token, but no binding here gives aiops-enricher a role",
    ),
    "a binding to another account": (
        lambda m: _of(m, "ClusterRoleBinding")[0]["subjects"][0].update(name="aiops"),
        "no binding here gives aiops-enricher a role",
    ),
    "a role that writes": (
        lambda m: _of(m, "ClusterRole")[0]["rules"][0]["verbs"].append("delete"),
        "ClusterRole/aiops-aiops-enricher-events: grants more than reading events",
    ),
    "a role reading secrets": (
        lambda m: _of(m, "ClusterRole")[0]["rules"].append(
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        ),
        "grants more than reading events (['get'] on ['secrets'])",
    ),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_access_rule_fires_on_a_set_broken_in_its_way(events_on: list[Manifest], case: str) -> None:
    breaker, expected = BREAKS[case]
    manifests = copy.deepcopy(events_on)
    breaker(manifests)
    found = problems(manifests)
    assert any(expected in problem for problem in found), found


def test_the_enricher_mounting_a_token_with_events_off_is_flagged() -> None:
    manifests = render(load_values())
    _pod(manifests, "enricher").update(automountServiceAccountToken=True)
    found = problems(manifests)
    assert "Deployment/aiops-enricher: mounts its token, but no binding here gives aiops a role" in found
    assert any("mounts the token of aiops, which Deployment/aiops-ingest" in problem for problem in found)
