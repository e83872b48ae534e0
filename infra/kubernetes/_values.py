"""The values: defaults in ``values.yaml`` here, overridden by files and ``--set`` like Helm's.

Values are typed and closed: an unknown or misspelt key is an error naming where it is, instead of a
setting that is silently ignored. Kubernetes objects passed through verbatim (network peers, egress
rules) stay plain mappings; the Kubernetes schemas check them once rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from infra.kubernetes._stages import STAGE_NAMES
from infra.kubernetes._value_checks import TRACING_SECRETS, value_problems

DEFAULTS = Path(__file__).with_name("values.yaml")

Peer = dict[str, Any]


class ValuesError(ValueError):
    """Values that cannot be rendered; the message names the file or key."""


class _Closed(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, rename="camel"):
    pass


class Image(_Closed, frozen=True):
    repository: str
    tag: str = ""
    digest: str = ""
    pull_policy: str = "IfNotPresent"


class NatsChart(_Closed, frozen=True):
    repository: str
    name: str
    version: str


class Nats(_Closed, frozen=True):
    chart: NatsChart
    release: str = "nats"
    namespace: str = "nats"
    replicas: int = 3
    client_port: int = 4222
    monitor_port: int = 8222
    account: str = "$G"
    storage_size: str = "10Gi"
    storage_class: str = ""
    # A Secret holding a NATS .creds file; mounted and passed as NATS_CREDS when set.
    creds_secret: str = ""
    creds_key: str = "nats.creds"


class Resources(_Closed, frozen=True):
    requests: dict[str, str]
    limits: dict[str, str]


class Scaling(_Closed, frozen=True):
    enabled: bool = True
    min_replicas: int = 1
    max_replicas: int = 4
    # Consumer stages (KEDA): pending + unacknowledged messages per replica that add one more.
    lag_threshold: int = 512
    activation_lag_threshold: int = 0
    polling_interval: int = 15
    cooldown_period: int = 300
    # ingest (HorizontalPodAutoscaler): average CPU utilisation to hold.
    cpu_utilization: int = 70


class StageValues(_Closed, frozen=True):
    resources: Resources
    replicas: int = 1
    scaling: Scaling = msgspec.field(default_factory=Scaling)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    # Keys of Secret ``secretName`` it gets besides its own secret settings, e.g. a routes file's ${NAME}s.
    secret_keys: list[str] = msgspec.field(default_factory=list)
    egress: list[dict[str, Any]] = msgspec.field(default_factory=list)


class Otel(_Closed, frozen=True):
    """OpenTelemetry tracing of every stage (docs/tracing.md); off while ``endpoint`` is empty."""

    endpoint: str = ""
    sampler: str = "parentbased_always_on"
    sampler_arg: float | None = None


class ApiServer(_Closed, frozen=True):
    """Where the API server answers, for egress: NetworkPolicies cannot name it portably."""

    cidrs: list[str] = msgspec.field(default_factory=list)
    port: int = 0


class KubernetesEvents(_Closed, frozen=True):
    """The enricher's Kubernetes events source (docs/enrichment.md): its token, access and egress."""

    enabled: bool = False
    # Namespaces whose events it may list; empty: every namespace.
    namespaces: list[str] = msgspec.field(default_factory=list)
    api_server: ApiServer = msgspec.field(default_factory=ApiServer)


class Namespace(_Closed, frozen=True):
    name: str = "aiops"
    create: bool = True


class Values(_Closed, frozen=True):
    image: Image
    nats: Nats
    stages: dict[str, StageValues]
    release: str = "aiops"
    cluster_domain: str = "cluster.local"
    namespace: Namespace = msgspec.field(default_factory=Namespace)
    secret_name: str = "aiops"
    env: dict[str, str] = msgspec.field(default_factory=dict)
    otel: Otel = msgspec.field(default_factory=Otel)
    # Contents of the files the stages read, keyed by the setting naming them (``_files``): a file's
    # text, or a folder's file names to their text.
    files: dict[str, str | dict[str, str]] = msgspec.field(default_factory=dict)
    kubernetes_events: KubernetesEvents = msgspec.field(default_factory=KubernetesEvents)

    @property
    def tracing_secrets(self) -> tuple[str, ...]:
        """What every stage reads from the Secret for tracing: a hosted backend's credentials."""
        return TRACING_SECRETS if self.otel.endpoint else ()

    # Egress rules every stage gets, e.g. to an OpenTelemetry collector.
    egress: list[dict[str, Any]] = msgspec.field(default_factory=list)
    metrics_from: list[Peer] = msgspec.field(default_factory=list)
    webhook_from: list[Peer] = msgspec.field(default_factory=list)
    console_from: list[Peer] = msgspec.field(default_factory=list)
    pod_annotations: dict[str, str] = msgspec.field(default_factory=dict)
    termination_grace_period_seconds: int = 30


def merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced, as in Helm."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """``a.b.c=value``; the value is read as YAML, so numbers and booleans keep their type, except an
    environment variable's (``env.NAME=off``): it is text, taken as typed, where YAML would read a boolean."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise ValuesError(f"--set {assignment!r}: expected key.path=value")
    keys = path.split(".")
    value: Any = raw if keys[-2:-1] == ["env"] else yaml.safe_load(raw) if raw else ""
    for key in reversed(keys):
        value = {key: value}
    merged: dict[str, Any] = merge(data, value)
    return merged


def _refuse_env_not_text(data: dict[str, Any]) -> None:
    """An environment variable is text. YAML reads an unquoted ``off``, ``yes`` or ``8080`` as a boolean
    or a number, and turning it back into text would not give what was written (``off`` became false):
    the value is refused by its key, with the fix."""
    stages = data.get("stages")
    places = [("env", data.get("env"))]
    if isinstance(stages, dict):
        places += [
            (f"stages.{name}.env", stage.get("env"))
            for name, stage in stages.items()
            if isinstance(stage, dict)
        ]
    for where, env in places:
        for name, value in (env or {}).items() if isinstance(env, dict) else ():
            if not isinstance(value, str):
                raise ValuesError(
                    f"values: {where}.{name}: YAML read {value!r}, not text; an environment variable is text:"
                    f' quote it in the file ({name}: "as written"), or give it with --set {where}.{name}=...'
                )


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValuesError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ValuesError(f"{path}: not valid YAML ({exc})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValuesError(f"{path}: expected a mapping of values at the top level")
    return loaded


def load_values(files: list[Path] | None = None, sets: list[str] | None = None) -> Values:
    data = _read(DEFAULTS)
    for path in files or []:
        data = merge(data, _read(path))
    for assignment in sets or []:
        data = apply_set(data, assignment)
    _refuse_env_not_text(data)
    given = data.get("stages") or {}
    if not isinstance(given, dict):
        raise ValuesError("values: stages must be a mapping of stage name to its values")
    unknown = sorted(set(given) - set(STAGE_NAMES))
    missing = [name for name in STAGE_NAMES if name not in given]
    if unknown or missing:
        raise ValuesError(
            f"values: stages must be exactly {', '.join(STAGE_NAMES)}"
            f" (unknown: {unknown}, missing: {missing})"
        )
    for name, stage in given.items():
        # Converted on its own first, so an error names the stage rather than `stages[...]`.
        try:
            msgspec.convert(stage, StageValues)
        except msgspec.ValidationError as exc:
            raise ValuesError(f"values: stages.{name}: {exc}") from None
    try:
        values = msgspec.convert(data, Values)
    except msgspec.ValidationError as exc:
        raise ValuesError(f"values: {exc}") from None
    found = value_problems(values)
    if found:
        raise ValuesError(f"values: {found[0]}")
    return values
