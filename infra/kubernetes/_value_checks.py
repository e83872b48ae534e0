"""What the values must hold beyond their types; each problem a line naming the key, the first one raised.

Settings go to the stage that reads them, secrets only by name of a Secret key, and what a turned-on
feature needs (the events source's API server, the files' shapes) is given.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from infra.kubernetes._files import file_problems
from infra.kubernetes._pod_rules import looks_secret
from infra.kubernetes._stages import stages
from services.enricher._kubernetes_events import KubernetesEvents
from services.notifier._routes import ENV_NAME

if TYPE_CHECKING:
    from infra.kubernetes._values import Otel, StageValues, Values

# A hosted tracing backend's credentials: a secret whether or not tracing is on.
TRACING_SECRETS = ("OTEL_EXPORTER_OTLP_HEADERS",)
SAMPLERS = (
    "parentbased_always_on",
    "parentbased_traceidratio",
    "parentbased_always_off",
    "always_on",
    "traceidratio",
    "always_off",
)


@cache
def _plain_settings() -> frozenset[str]:
    return frozenset(env for stage in stages().values() for env in stage.plain_env)


def _otel_problems(otel: Otel) -> list[str]:
    found = []
    if otel.sampler not in SAMPLERS:
        found.append(f"otel.sampler {otel.sampler!r} is not one of {', '.join(SAMPLERS)}")
    if otel.sampler_arg is not None and not 0 <= otel.sampler_arg <= 1:
        found.append(f"otel.samplerArg {otel.sampler_arg} is not a ratio from 0 to 1")
    return found


def _env_problems(values: Values, name: str, stage_values: StageValues) -> list[str]:
    known = stages()[name]
    found = []
    for key in stage_values.secret_keys:
        where = f"stages.{name}.secretKeys: {key}"
        if not re.fullmatch(ENV_NAME, key):
            found.append(f"{where} is no variable name ({ENV_NAME})")
        elif key in known.plain_env:
            found.append(f"{where} is a plain setting of {name}; set it in env")
        elif key in (*known.secret_env, *values.tracing_secrets) or stage_values.secret_keys.count(key) > 1:
            found.append(f"{where} is read from the Secret already")
    for key in {**values.env, **stage_values.env}:
        where = f"stages.{name}.env.{key}" if key in stage_values.env else f"env.{key}"
        # A name no stage reads that looks secret is one for a routes file's ${NAME}: a Secret key.
        secret = key in known.secret_env or (key in stage_values.secret_keys and key not in known.plain_env)
        if secret or key in TRACING_SECRETS or (key not in _plain_settings() and looks_secret(key)):
            found.append(f"{where} is a secret; put it in Secret {values.secret_name!r}")
        # OTEL_* configure the OpenTelemetry SDK itself, not a setting of ours.
        elif key not in known.plain_env and not key.startswith("OTEL_"):
            found.append(f"{where} is not a setting of {name}")
    return found


def _events_problems(values: Values) -> list[str]:
    events = values.kubernetes_events
    if not events.enabled:
        return []
    found = []
    if not events.api_server.cidrs or not 0 < events.api_server.port < 65536:
        found.append(
            "kubernetesEvents.apiServer needs the API server's cidrs and port for egress"
            " (`kubectl get endpoints kubernetes`)"
        )
    setting = KubernetesEvents.setting
    for name, stage_values in values.stages.items():
        if setting in stages()[name].plain_env and setting in {**values.env, **stage_values.env}:
            found.append(
                f"kubernetesEvents reads this cluster's API server: leave {setting} unset for {name}"
            )
    return found


def value_problems(values: Values) -> list[str]:
    found = []
    if values.image.tag == "latest":
        found.append("image.tag 'latest' is not pinned; use a version tag or image.digest")
    found += _otel_problems(values.otel)
    for name, stage_values in values.stages.items():
        found += _env_problems(values, name, stage_values)
        scaling = stage_values.scaling
        if not 0 <= scaling.min_replicas <= scaling.max_replicas or scaling.max_replicas < 1:
            found.append(f"stages.{name}.scaling needs 0 <= minReplicas <= maxReplicas and maxReplicas >= 1")
    return found + _events_problems(values) + file_problems(values)
