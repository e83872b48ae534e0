"""Rules over the whole set of manifests: every stage is complete, protected, reachable and scaled.

``problems(manifests)`` returns one line per finding, ``Kind/name: what is wrong``; an empty list means
the set passes. The Kubernetes schemas are checked apart (``schema_problems``), since KEDA's
ScaledObject has none there and is judged by the rules below instead. Who holds a service-account
token, and what its roles allow, is judged in ``_access_rules``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import schemas
from infra.kubernetes._access_rules import access_problems
from infra.kubernetes._pod_rules import Manifest, looks_secret, pod_problems
from infra.kubernetes._query import COMPONENT, config_of, ident, of_kind, pod_labels, selects
from infra.kubernetes._stages import STAGE_NAMES, stages

SCALER_KEYS = ("natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold")


def _number(text: str | None, default: float) -> float:
    """A number from a ConfigMap; the service's default when absent or unreadable (it would refuse it)."""
    try:
        return float(text) if text is not None else default
    except ValueError:
        return default


def _secret_names() -> frozenset[str]:
    return frozenset(env for stage in stages().values() for env in stage.secret_env)


def deployment_problems(manifests: list[Manifest]) -> list[str]:
    found = []
    scalers = [*of_kind(manifests, "ScaledObject"), *of_kind(manifests, "HorizontalPodAutoscaler")]
    for deployment in of_kind(manifests, "Deployment"):
        name, where = deployment["metadata"]["name"], ident(deployment)
        found += [f"{where}: {problem}" for problem in pod_problems(deployment, _secret_names())]
        config = config_of(manifests, deployment)
        found += [
            f"{where}: secret {key} is in a ConfigMap" for key in config if looks_secret(key, _secret_names())
        ]
        stage = stages().get(pod_labels(deployment).get(COMPONENT, ""))
        grace = _number(config.get("SHUTDOWN_GRACE_SECONDS"), stage.shutdown_grace_seconds if stage else 0)
        if deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30) <= grace:
            found.append(
                f"{where}: terminationGracePeriodSeconds must exceed SHUTDOWN_GRACE_SECONDS ({grace:g})"
            )
        scaled = any(s["spec"].get("scaleTargetRef", {}).get("name") == name for s in scalers)
        if scaled and "replicas" in deployment["spec"]:
            found.append(f"{where}: sets replicas although an autoscaler owns them")
        if not scaled and not deployment["spec"].get("replicas"):
            found.append(f"{where}: neither an autoscaler nor a replica count")
    found += [
        f"{ident(secret)}: Secret values are rendered; reference an existing Secret"
        for secret in of_kind(manifests, "Secret")
    ]
    return found


def scaled_object_problems(manifests: list[Manifest]) -> list[str]:
    deployments = {d["metadata"]["name"]: d for d in of_kind(manifests, "Deployment")}
    found = []
    for scaler in of_kind(manifests, "ScaledObject"):
        where, spec = ident(scaler), scaler.get("spec") or {}
        if scaler.get("apiVersion") != "keda.sh/v1alpha1":
            found.append(f"{where}: apiVersion must be keda.sh/v1alpha1")
        target = spec.get("scaleTargetRef") or {}
        deployment = deployments.get(target.get("name", ""))
        if deployment is None or target.get("kind", "Deployment") != "Deployment":
            found.append(f"{where}: scaleTargetRef {target.get('name')!r} is no Deployment rendered here")
            continue
        stage = stages().get(pod_labels(deployment).get(COMPONENT, ""))
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and high >= 1):
            found.append(f"{where}: needs 0 <= minReplicaCount <= maxReplicaCount, maxReplicaCount >= 1")
        triggers = spec.get("triggers") or []
        if [t.get("type") for t in triggers] != ["nats-jetstream"]:
            found.append(f"{where}: needs exactly one nats-jetstream trigger")
            continue
        meta = triggers[0].get("metadata") or {}
        found += [f"{where}: trigger metadata lacks {key}" for key in SCALER_KEYS if not meta.get(key)]
        found += [
            f"{where}: trigger metadata {k} is not a string"
            for k, v in meta.items()
            if not isinstance(v, str)
        ]
        if meta.get("stream") != schemas.STREAM:
            found.append(f"{where}: stream {meta.get('stream')!r} is not {schemas.STREAM}")
        if stage is None or meta.get("consumer") != stage.consumer:
            found.append(
                f"{where}: consumer {meta.get('consumer')!r} is not the one its Deployment pulls from"
            )
        threshold = str(meta.get("lagThreshold", ""))
        default = stage.default_max_in_flight if stage else None
        in_flight = _number(config_of(manifests, deployment).get("MAX_IN_FLIGHT"), default or 0)
        if not threshold.isdigit() or int(threshold) <= in_flight:
            found.append(
                f"{where}: lagThreshold {threshold!r} must be an integer above MAX_IN_FLIGHT ({in_flight:g})"
            )
    return found


def network_problems(manifests: list[Manifest]) -> list[str]:
    found = []
    for policy in of_kind(manifests, "NetworkPolicy"):
        where, spec = ident(policy), policy.get("spec") or {}
        if sorted(spec.get("policyTypes") or []) != ["Egress", "Ingress"]:
            found.append(f"{where}: policyTypes must be Ingress and Egress")
        found += [
            f"{where}: an ingress rule admits every source"
            for rule in spec.get("ingress") or []
            if not rule.get("from")
        ]
        found += [
            f"{where}: an egress rule reaches everywhere"
            for rule in spec.get("egress") or []
            if not rule.get("to")
        ]
        ports = {p.get("port") for rule in spec.get("egress") or [] for p in rule.get("ports") or []}
        for deployment in of_kind(manifests, "Deployment"):
            if selects(spec.get("podSelector"), deployment):
                nats = urlsplit(
                    config_of(manifests, deployment).get("NATS_URL", "nats://x:4222").split(",")[0]
                ).port
                found += [
                    f"{where}: egress does not allow {what}"
                    for what, port in (("DNS", 53), ("NATS", nats))
                    if port not in ports
                ]
    return found


def coverage_problems(manifests: list[Manifest]) -> list[str]:
    found = []
    for name in STAGE_NAMES:
        matching = [d for d in of_kind(manifests, "Deployment") if pod_labels(d).get(COMPONENT) == name]
        if len(matching) != 1:
            found.append(f"stage {name}: {len(matching)} Deployments, expected 1")
            continue
        deployment = matching[0]
        for kind, key in (("PodDisruptionBudget", "selector"), ("NetworkPolicy", "podSelector")):
            if not any(selects(m.get("spec", {}).get(key), deployment) for m in of_kind(manifests, kind)):
                found.append(f"stage {name}: no {kind} selects its pods")
        # The HTTP services (ingest, console) are reached by name, not through NATS.
        if stages()[name].consumer is None and not any(
            selects({"matchLabels": s["spec"].get("selector")}, deployment)
            for s in of_kind(manifests, "Service")
        ):
            found.append(f"stage {name}: no Service selects its pods")
    return found


def problems(manifests: list[Manifest]) -> list[str]:
    return [
        *coverage_problems(manifests),
        *deployment_problems(manifests),
        *scaled_object_problems(manifests),
        *network_problems(manifests),
        *access_problems(manifests),
    ]
