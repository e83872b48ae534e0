"""Values in, the list of manifests out; and that list as one multi-document YAML for kubectl."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from infra.kubernetes import _events, _network, _scaling, _workloads
from infra.kubernetes._files import FILE_SETTINGS
from infra.kubernetes._stages import STAGE_NAMES, stages
from infra.kubernetes._values import Values
from infra.kubernetes._workloads import Manifest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def project_version() -> str:
    version: str = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    return version


def render(values: Values, version: str | None = None) -> list[Manifest]:
    version = version or project_version()
    manifests: list[Manifest] = []
    if values.namespace.create:
        manifests.append(_workloads.namespace(values))
    manifests.append(_workloads.service_account(values))
    manifests += _events.events_access(values)
    manifests += [_workloads.file_config_map(values, FILE_SETTINGS[setting]) for setting in values.files]
    for name in STAGE_NAMES:
        stage = stages()[name]
        scaling = values.stages[name].scaling
        config = _workloads.config_map(values, stage)
        manifests += [config, _workloads.deployment(values, stage, version, config, scaling.enabled)]
        if stage.consumer is None:
            manifests.append(_workloads.service(values, stage))
        manifests += [_workloads.disruption_budget(values, stage), _network.network_policy(values, stage)]
        if scaling.enabled:
            scaler = _scaling.cpu_autoscaler if stage.consumer is None else _scaling.scaled_object
            manifests.append(scaler(values, stage))
    return manifests


def to_yaml(manifests: list[Manifest]) -> str:
    header = "# Rendered by `python -m infra.kubernetes render`; apply with `kubectl apply -f -`.\n"
    return header + "---\n".join(
        yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False) for manifest in manifests
    )
