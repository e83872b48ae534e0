"""Finding things in a set of manifests: by kind, a Deployment's pod labels, what a selector selects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.kubernetes._pod_rules import Manifest

COMPONENT = "app.kubernetes.io/component"


def of_kind(manifests: list[Manifest], kind: str) -> Iterator[Manifest]:
    return (m for m in manifests if m.get("kind") == kind)


def ident(manifest: Manifest) -> str:
    return f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = (
        deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
    )
    return labels


def selects(selector: dict[str, Any] | None, deployment: Manifest) -> bool:
    wanted = (selector or {}).get("matchLabels") or {}
    labels = pod_labels(deployment)
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def config_of(manifests: list[Manifest], deployment: Manifest) -> dict[str, str]:
    """The variables the deployment's containers get from ConfigMaps (envFrom)."""
    names = {
        ref["configMapRef"]["name"]
        for container in deployment["spec"]["template"]["spec"].get("containers", [])
        for ref in container.get("envFrom") or []
        if "configMapRef" in ref
    }
    data: dict[str, str] = {}
    for config in of_kind(manifests, "ConfigMap"):
        if config["metadata"]["name"] in names:
            data.update(config.get("data") or {})
    return data
