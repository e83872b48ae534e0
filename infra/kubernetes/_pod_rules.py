"""Rules every Deployment's pod must satisfy, each a function returning what it finds wrong.

Each rule reads only the manifest, so it judges a hand-edited or otherwise produced manifest just as
well as a rendered one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Manifest = dict[str, Any]
PodRule = Callable[[Manifest, Manifest], list[str]]

# Words that mark a variable as a secret, matched as whole words of its name (LLM_API_KEY, not MONKEY).
SECRET_WORDS = frozenset({"TOKEN", "PASSWORD", "SECRET", "KEY", "CREDENTIALS", "PASSPHRASE"})
_QUANTITY = re.compile(r"^([0-9.]+(?:e[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}  # fmt: skip


def quantity(text: str | int | float) -> float | None:
    match = _QUANTITY.match(str(text))
    if not match or match.group(2) not in _SUFFIX:
        return None
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def looks_secret(name: str, secret_names: frozenset[str] = frozenset()) -> bool:
    return name in secret_names or bool(SECRET_WORDS & set(name.upper().split("_")))


def image_pinned(_: Manifest, container: Manifest) -> list[str]:
    image = str(container.get("image", ""))
    if "@sha256:" in image:
        return []
    name, _sep, tag = image.rpartition(":")
    if not name or "/" in tag:
        return [f"image {image!r} has no tag"]
    if tag == "latest":
        return [f"image {image!r} is not pinned (latest)"]
    return []


def probes_on_declared_ports(_: Manifest, container: Manifest) -> list[str]:
    declared = {p.get("name") for p in container.get("ports", [])} | {
        p.get("containerPort") for p in container.get("ports", [])
    }
    found = []
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container.get(kind)
        if not probe or "httpGet" not in probe:
            found.append(f"no HTTP {kind}")
        elif probe["httpGet"].get("path") != path:
            found.append(f"{kind} asks {probe['httpGet'].get('path')!r}, not {path}")
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = (container.get(kind) or {}).get("httpGet", {}).get("port")
        if port is not None and port not in declared:
            found.append(f"{kind} points at port {port!r}, which the container does not declare")
    return found


def resources_bounded(_: Manifest, container: Manifest) -> list[str]:
    resources = container.get("resources") or {}
    found = []
    for resource in ("cpu", "memory"):
        request = (resources.get("requests") or {}).get(resource)
        limit = (resources.get("limits") or {}).get(resource)
        if request is None or limit is None:
            found.append(f"{resource} needs both a request and a limit")
            continue
        low, high = quantity(request), quantity(limit)
        if low is None or high is None:
            found.append(f"{resource} quantity {request!r} or {limit!r} does not parse")
        elif low > high:
            found.append(f"{resource} request {request} exceeds its limit {limit}")
    return found


def unprivileged(pod: Manifest, container: Manifest) -> list[str]:
    pod_context = pod.get("securityContext") or {}
    context = container.get("securityContext") or {}

    def either(key: str) -> Any:
        return context.get(key, pod_context.get(key))

    found = []
    if either("runAsNonRoot") is not True:
        found.append("runAsNonRoot is not true")
    if either("runAsUser") == 0:
        found.append("runs as user 0")
    if context.get("readOnlyRootFilesystem") is not True:
        found.append("root filesystem is writable (readOnlyRootFilesystem)")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation is not false")
    if context.get("privileged") is True:
        found.append("runs privileged")
    if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
        found.append("capabilities do not drop ALL")
    if (either("seccompProfile") or {}).get("type") != "RuntimeDefault":
        found.append("seccompProfile is not RuntimeDefault")
    return found


def secrets_by_reference(secret_names: frozenset[str]) -> PodRule:
    def rule(_: Manifest, container: Manifest) -> list[str]:
        found = []
        for env in container.get("env") or []:
            name = env.get("name", "")
            if not looks_secret(name, secret_names):
                continue
            if "value" in env:
                found.append(f"secret {name} is given as a literal value")
            elif "secretKeyRef" not in (env.get("valueFrom") or {}):
                found.append(f"secret {name} is not read from a Secret")
        return found

    return rule


POD_RULES: tuple[PodRule, ...] = (image_pinned, probes_on_declared_ports, resources_bounded, unprivileged)


def pod_problems(deployment: Manifest, secret_names: frozenset[str]) -> list[str]:
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    containers = pod.get("containers") or []
    if not containers:
        return ["has no containers"]
    rules = (*POD_RULES, secrets_by_reference(secret_names))
    return [
        f"container {container.get('name')}: {problem}"
        for container in containers
        for rule in rules
        for problem in rule(pod, container)
    ]
