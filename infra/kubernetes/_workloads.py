"""One stage's workload: its ConfigMap, Deployment, PodDisruptionBudget and (ingest, console) Service.

Every pod runs as the image's unprivileged user on a read-only root filesystem with no capabilities,
which the Pod Security "restricted" profile requires; /tmp is the only writable path.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from infra.kubernetes import _files, _nats
from infra.kubernetes._files import FileSetting
from infra.kubernetes._stages import Stage
from infra.kubernetes._values import Values
from services.enricher._kubernetes_events import KubernetesEvents

Manifest = dict[str, Any]
# The image's user (infra/Dockerfile: useradd --uid 10001).
RUN_AS = 10001
CREDS_DIR = "/etc/nats-creds"


def name_of(values: Values, stage: Stage) -> str:
    return f"{values.release}-{stage.name}"


def selector_labels(values: Values, stage: Stage) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "aiops",
        "app.kubernetes.io/instance": values.release,
        "app.kubernetes.io/component": stage.name,
    }


def labels(values: Values, stage: Stage | None = None) -> dict[str, str]:
    common = {
        "app.kubernetes.io/name": "aiops",
        "app.kubernetes.io/instance": values.release,
        "app.kubernetes.io/part-of": "aiops",
        "app.kubernetes.io/managed-by": "infra.kubernetes",
    }
    return {**common, **(selector_labels(values, stage) if stage else {})}


def metadata(values: Values, name: str, stage: Stage | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": values.namespace.name, "labels": labels(values, stage)}


def namespace(values: Values) -> Manifest:
    enforce = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": values.namespace.name, "labels": {**labels(values), **enforce}},
    }


def service_account(values: Values) -> Manifest:
    # The stages' own: it is granted nothing, and no token of it is mounted into their pods.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(values, values.release),
        "automountServiceAccountToken": False,
    }


def reads_events(values: Values, stage: Stage) -> bool:
    """Whether this stage runs the Kubernetes events source: the one whose settings include its URL."""
    return values.kubernetes_events.enabled and KubernetesEvents.setting in stage.plain_env


def service_account_name(values: Values, stage: Stage) -> str:
    # The events reader has an account of its own, so its access is granted to no other stage.
    return name_of(values, stage) if reads_events(values, stage) else values.release


def _otel_env(values: Values) -> dict[str, str]:
    """The OpenTelemetry SDK's own variables; none at all while tracing is off."""
    otel = values.otel
    if not otel.endpoint:
        return {}
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otel.endpoint, "OTEL_TRACES_SAMPLER": otel.sampler}
    if otel.sampler_arg is not None:
        env["OTEL_TRACES_SAMPLER_ARG"] = str(otel.sampler_arg)
    return env


def config_map(values: Values, stage: Stage) -> Manifest:
    data = {
        "NATS_URL": _nats.client_url(values),
        "STREAM_REPLICAS": str(values.nats.replicas),
        stage.port_env: str(stage.port),
        **_otel_env(values),
        **values.env,
        **values.stages[stage.name].env,
        **{file.setting: file.path for file in _files.read_by(values, stage)},
    }
    if values.nats.creds_secret:
        data["NATS_CREDS"] = f"{CREDS_DIR}/{values.nats.creds_key}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(values, name_of(values, stage), stage),
        "data": data,
    }


def _file_config_name(values: Values, file: FileSetting) -> str:
    return f"{values.release}-{file.volume}"


def file_config_map(values: Values, file: FileSetting) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(values, _file_config_name(values, file)),
        "data": _files.contents(values, file),
    }


def image(values: Values, version: str) -> str:
    ref = f"{values.image.repository}:{values.image.tag or version}"
    return f"{ref}@{values.image.digest}" if values.image.digest else ref


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _container(values: Values, stage: Stage, version: str, config: Manifest) -> dict[str, Any]:
    secrets = [
        {
            "name": env,
            "valueFrom": {"secretKeyRef": {"name": values.secret_name, "key": env, "optional": True}},
        }
        for env in (*stage.secret_env, *values.tracing_secrets, *values.stages[stage.name].secret_keys)
    ]
    container: dict[str, Any] = {
        "name": stage.name,
        "image": image(values, version),
        "imagePullPolicy": values.image.pull_policy,
        "args": [stage.module],
        "ports": [{"name": "http", "containerPort": stage.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": config["metadata"]["name"]}}],
        "env": secrets,
        # The health server starts once NATS answers and the stream exists: until then, only the
        # startup probe runs, for up to five minutes, so a slow NATS is waited for, not restarted.
        "startupProbe": _probe("/healthz", 5, 60),
        "livenessProbe": _probe("/healthz", 10, 3),
        "readinessProbe": _probe("/readyz", 5, 2),
        "resources": {
            "requests": dict(values.stages[stage.name].resources.requests),
            "limits": dict(values.stages[stage.name].resources.limits),
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if values.nats.creds_secret:
        container["volumeMounts"].append({"name": "nats-creds", "mountPath": CREDS_DIR, "readOnly": True})
    container["volumeMounts"] += [
        {"name": file.volume, "mountPath": file.folder, "readOnly": True}
        for file in _files.read_by(values, stage)
    ]
    return container


def deployment(values: Values, stage: Stage, version: str, config: Manifest, autoscaled: bool) -> Manifest:
    # A hash of the stage's settings: changing them rolls the pods, which read them only at start.
    digest = hashlib.sha256(json.dumps(config["data"], sort_keys=True).encode()).hexdigest()[:16]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if values.nats.creds_secret:
        volumes.append({"name": "nats-creds", "secret": {"secretName": values.nats.creds_secret}})
    files = _files.read_by(values, stage)
    volumes += [
        {"name": file.volume, "configMap": {"name": _file_config_name(values, file)}} for file in files
    ]
    annotations = {**values.pod_annotations, "checksum/config": digest}
    if files:
        annotations["checksum/files"] = _files.digest(values, stage)
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(values, stage)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {
                "labels": labels(values, stage),
                "annotations": {
                    **annotations,
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(stage.port),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "serviceAccountName": service_account_name(values, stage),
                "automountServiceAccountToken": reads_events(values, stage),
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": values.termination_grace_period_seconds,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector_labels(values, stage)},
                    }
                ],
                "containers": [_container(values, stage, version, config)],
                "volumes": volumes,
            },
        },
    }
    # Under an autoscaler the replica count is its to set; `kubectl apply` must not reset it.
    if not autoscaled:
        spec["replicas"] = values.stages[stage.name].replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": spec,
    }


def disruption_budget(values: Values, stage: Stage) -> Manifest:
    # maxUnavailable, not minAvailable: a stage of one replica must not block draining its node.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(values, stage)}},
    }


def service(values: Values, stage: Stage) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(values, name_of(values, stage), stage),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(values, stage),
            "ports": [{"name": "http", "port": stage.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }
