"""Each rule of infra/kubernetes fires on a manifest broken in just its way (the rendered set has none)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.kubernetes import load_values, problems, render
from infra.kubernetes._pod_rules import looks_secret, quantity

Manifest = dict[str, Any]
Breaker = Callable[[list[Manifest]], object]


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    manifests = render(load_values())
    assert problems(manifests) == []
    return manifests


def _get(manifests: list[Manifest], kind: str, stage: str) -> Manifest:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == f"aiops-{stage}")


def _pod(manifests: list[Manifest], stage: str) -> Manifest:
    pod: Manifest = _get(manifests, "Deployment", stage)["spec"]["template"]["spec"]
    return pod


def _container(manifests: list[Manifest], stage: str) -> Manifest:
    container: Manifest = _pod(manifests, stage)["containers"][0]
    return container


def _trigger(manifests: list[Manifest], stage: str) -> Manifest:
    metadata: Manifest = _get(manifests, "ScaledObject", stage)["spec"]["triggers"][0]["metadata"]
    return metadata


def _unset_security(manifests: list[Manifest], stage: str, key: str) -> None:
    """Remove a security setting from both places it may be given: the pod and the container."""
    _pod(manifests, stage)["securityContext"].pop(key)
    _container(manifests, stage)["securityContext"].pop(key)


def _drop(manifests: list[Manifest], kind: str, stage: str) -> None:
    manifests.remove(_get(manifests, kind, stage))


CASES: dict[str, tuple[Breaker, str]] = {
    "image latest": (
        lambda m: _container(m, "analyst").update(image="aiops-pipeline:latest"),
        "Deployment/aiops-analyst: container analyst: image 'aiops-pipeline:latest' is not pinned (latest)",
    ),
    "image untagged": (
        lambda m: _container(m, "analyst").update(image="registry:5000/aiops-pipeline"),
        "image 'registry:5000/aiops-pipeline' has no tag",
    ),
    "no liveness probe": (lambda m: _container(m, "enricher").pop("livenessProbe"), "no HTTP livenessProbe"),
    "readiness on the liveness path": (
        lambda m: _container(m, "enricher")["readinessProbe"]["httpGet"].update(path="/healthz"),
        "readinessProbe asks '/healthz', not /readyz",
    ),
    "probe on an undeclared port": (
        lambda m: _container(m, "notifier")["livenessProbe"]["httpGet"].update(port=9999),
        "livenessProbe points at port 9999, which the container does not declare",
    ),
    "no memory limit": (
        lambda m: _container(m, "ingest")["resources"]["limits"].pop("memory"),
        "memory needs both a request and a limit",
    ),
    "request above limit": (
        lambda m: _container(m, "ingest")["resources"]["requests"].update(cpu="2"),
        "cpu request 2 exceeds its limit 1",
    ),
    "root allowed": (
        lambda m: _unset_security(m, "analyst", "runAsNonRoot"),
        "runAsNonRoot is not true",
    ),
    "root user": (
        lambda m: _container(m, "analyst")["securityContext"].update(runAsUser=0),
        "runs as user 0",
    ),
    "writable root": (
        lambda m: _container(m, "analyst")["securityContext"].update(readOnlyRootFilesystem=False),
        "root filesystem is writable",
    ),
    "privilege escalation": (
        lambda m: _container(m, "analyst")["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation is not false",
    ),
    "privileged": (
        lambda m: _container(m, "analyst")["securityContext"].update(privileged=True),
        "runs privileged",
    ),
    "capabilities kept": (
        lambda m: _container(m, "analyst")["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        "capabilities do not drop ALL",
    ),
    "no seccomp": (
        lambda m: _unset_security(m, "analyst", "seccompProfile"),
        "seccompProfile is not RuntimeDefault",
    ),
    "token mounted": (
        lambda m: _pod(m, "notifier").update(automountServiceAccountToken=True),
        "the service account token is mounted",
    ),
    "literal secret": (
        lambda m: _container(m, "analyst")["env"].append({"name": "LLM_API_KEY", "value": "sk-live"}),
        "secret LLM_API_KEY is given as a literal value",
    ),
    "secret from a ConfigMap key": (
        lambda m: _container(m, "notifier")["env"].append(
            {"name": "SLACK_WEBHOOK_URL", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}
        ),
        "secret SLACK_WEBHOOK_URL is not read from a Secret",
    ),
    "secret in the ConfigMap": (
        lambda m: _get(m, "ConfigMap", "ingest")["data"].update(INGEST_AUTH_TOKEN="abc"),
        "Deployment/aiops-ingest: secret INGEST_AUTH_TOKEN is in a ConfigMap",
    ),
    "Secret rendered": (
        lambda m: m.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aiops"}, "data": {}}),
        "Secret/aiops: Secret values are rendered",
    ),
    "grace shorter than shutdown": (
        lambda m: _pod(m, "analyst").update(terminationGracePeriodSeconds=10),
        "terminationGracePeriodSeconds must exceed SHUTDOWN_GRACE_SECONDS (20)",
    ),
    "replicas under an autoscaler": (
        lambda m: _get(m, "Deployment", "analyst")["spec"].update(replicas=2),
        "Deployment/aiops-analyst: sets replicas although an autoscaler owns them",
    ),
    "neither autoscaler nor replicas": (
        lambda m: _drop(m, "HorizontalPodAutoscaler", "ingest"),
        "Deployment/aiops-ingest: neither an autoscaler nor a replica count",
    ),
    "ScaledObject apiVersion": (
        lambda m: _get(m, "ScaledObject", "enricher").update(apiVersion="keda.k8s.io/v1alpha1"),
        "ScaledObject/aiops-enricher: apiVersion must be keda.sh/v1alpha1",
    ),
    "ScaledObject without its Deployment": (
        lambda m: _get(m, "ScaledObject", "enricher")["spec"]["scaleTargetRef"].update(name="aiops-enrich"),
        "scaleTargetRef 'aiops-enrich' is no Deployment rendered here",
    ),
    "trigger lacks consumer": (
        lambda m: _trigger(m, "notifier").pop("consumer"),
        "trigger metadata lacks consumer",
    ),
    "trigger number not a string": (
        lambda m: _trigger(m, "notifier").update(lagThreshold=600),
        "trigger metadata lagThreshold is not a string",
    ),
    "trigger on another stream": (
        lambda m: _trigger(m, "notifier").update(stream="alerts"),
        "stream 'alerts' is not ALERTS",
    ),
    "trigger on another stage's consumer": (
        lambda m: _trigger(m, "notifier").update(consumer="analyst"),
        "ScaledObject/aiops-notifier: consumer 'analyst' is not the one its Deployment pulls from",
    ),
    "lag threshold below in-flight": (
        lambda m: _trigger(m, "enricher").update(lagThreshold="64"),
        "lagThreshold '64' must be an integer above MAX_IN_FLIGHT (64)",
    ),
    "lag threshold judged by the service's default when MAX_IN_FLIGHT is unreadable": (
        lambda m: (
            _get(m, "ConfigMap", "enricher")["data"].update(MAX_IN_FLIGHT="lots"),
            _trigger(m, "enricher").update(lagThreshold="32"),
        ),
        "lagThreshold '32' must be an integer above MAX_IN_FLIGHT (64)",
    ),
    "two triggers": (
        lambda m: _get(m, "ScaledObject", "enricher")["spec"]["triggers"].append(
            {"type": "cpu", "metadata": {}}
        ),
        "needs exactly one nats-jetstream trigger",
    ),
    "ingress open to all": (
        lambda m: _get(m, "NetworkPolicy", "analyst")["spec"]["ingress"].append({"ports": [{"port": 8002}]}),
        "NetworkPolicy/aiops-analyst: an ingress rule admits every source",
    ),
    "egress open to all": (
        lambda m: _get(m, "NetworkPolicy", "analyst")["spec"]["egress"].append({"ports": [{"port": 443}]}),
        "NetworkPolicy/aiops-analyst: an egress rule reaches everywhere",
    ),
    "no DNS egress": (
        lambda m: _get(m, "NetworkPolicy", "enricher")["spec"]["egress"].pop(0),
        "NetworkPolicy/aiops-enricher: egress does not allow DNS",
    ),
    "no NATS egress": (
        lambda m: _get(m, "NetworkPolicy", "enricher")["spec"]["egress"].pop(1),
        "NetworkPolicy/aiops-enricher: egress does not allow NATS",
    ),
    "ingress only": (
        lambda m: _get(m, "NetworkPolicy", "notifier")["spec"].update(policyTypes=["Ingress"]),
        "policyTypes must be Ingress and Egress",
    ),
    "stage without a budget": (
        lambda m: _drop(m, "PodDisruptionBudget", "analyst"),
        "stage analyst: no PodDisruptionBudget selects its pods",
    ),
    "budget selecting other pods": (
        lambda m: _get(m, "PodDisruptionBudget", "analyst")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/component": "analyser"}
        ),
        "stage analyst: no PodDisruptionBudget selects its pods",
    ),
    "stage without a policy": (
        lambda m: _drop(m, "NetworkPolicy", "notifier"),
        "stage notifier: no NetworkPolicy selects its pods",
    ),
    "ingest without a Service": (
        lambda m: _drop(m, "Service", "ingest"),
        "stage ingest: no Service selects its pods",
    ),
    "console without a Service": (
        lambda m: _drop(m, "Service", "console"),
        "stage console: no Service selects its pods",
    ),
    "stage missing": (
        lambda m: _drop(m, "Deployment", "enricher"),
        "stage enricher: 0 Deployments, expected 1",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_fires_on_a_manifest_broken_in_its_way(rendered: list[Manifest], case: str) -> None:
    breaker, expected = CASES[case]
    manifests = copy.deepcopy(rendered)
    breaker(manifests)
    found = problems(manifests)
    assert any(expected in problem for problem in found), found


def test_secret_names_are_matched_as_whole_words() -> None:
    assert looks_secret("LLM_API_KEY")
    assert looks_secret("PAGERDUTY_ROUTING_KEY")
    assert looks_secret("SLACK_WEBHOOK_URL", frozenset({"SLACK_WEBHOOK_URL"}))
    assert not looks_secret("MONKEY_COUNT")
    assert not looks_secret("TOKENIZER_MODEL")
    assert not looks_secret("GRAFANA_URL")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", 0.1),
        ("1", 1.0),
        ("0.5", 0.5),
        ("128Mi", 128 * 2**20),
        ("1Gi", 2**30),
        ("500M", 5e8),
        ("x1", None),
    ],
)
def test_resource_quantities_parse_as_kubernetes_reads_them(text: str, value: float | None) -> None:
    assert quantity(text) == value
