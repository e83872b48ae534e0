"""compose.yaml: valid by the Compose Specification, one image for every stage, every stage scalable."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support.compose import (
    container_environment,
    healthcheck_argv,
    healthcheck_module,
    listening_variable,
    pipeline_services,
)

STAGES = ("ingest", "enricher", "analyst", "notifier")


@pytest.fixture(scope="module")
def compose(repo: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((repo / "compose.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def compose_schema(repo: Path) -> dict[str, Any]:
    path = repo.parent / "shared" / "data" / "compose-spec.json"
    if not path.exists():
        pytest.skip(f"Compose Specification schema not found at {path}; nothing to validate against")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_compose_file_satisfies_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft7Validator(compose_schema).iter_errors(compose)
    ]
    assert errors == []


def test_schema_check_rejects_a_misspelt_service_key(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["analyst"]["enviroment"] = {"LLM_MODEL": "x"}
    assert not jsonschema.Draft7Validator(compose_schema).is_valid(broken)


def test_every_stage_runs_from_the_one_image_built_from_infra_dockerfile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in STAGES}
    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in STAGES}
    assert len(images) == 1
    assert builds == {json.dumps({"context": ".", "dockerfile": "infra/Dockerfile"}, sort_keys=True)}
    assert [services[name]["command"] for name in STAGES] == [[f"services.{name}"] for name in STAGES]


def test_every_stage_can_be_scaled(compose: dict[str, Any]) -> None:
    for name in STAGES:
        service = compose["services"][name]
        assert "container_name" not in service, name
        for port in service.get("ports", []):
            host_part = str(port).rsplit(":", 1)[0]
            # A published port must be a range, or a second replica cannot bind it.
            assert "-" in host_part, f"{name} publishes fixed host port {port}"


def test_stages_connect_to_nats_and_expose_the_ports_prometheus_scrapes(compose: dict[str, Any]) -> None:
    env = {name: compose["services"][name]["environment"] for name in STAGES}
    assert {e["NATS_URL"] for e in env.values()} == {"nats://nats:4222"}
    assert env["ingest"]["INGEST_PORT"] == "8000"
    assert [env[name]["HEALTH_PORT"] for name in STAGES[1:]] == ["8001", "8002", "8003"]


def test_nats_uses_the_repository_config_and_a_persistent_volume(compose: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    assert "./infra/nats/nats.conf:/etc/nats/nats.conf:ro" in nats["volumes"]
    assert "nats-data:/data" in nats["volumes"]
    assert nats["command"][-2:] == ["--store_dir", "/data"]


def test_ollama_runs_only_under_the_local_llm_profile(compose: dict[str, Any]) -> None:
    profiled = {name for name, s in compose["services"].items() if "local-llm" in s.get("profiles", [])}
    assert profiled == {"ollama", "ollama-pull"}


def test_every_variable_compose_reads_is_documented_in_env_example(repo: Path) -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (repo / "compose.yaml").read_text()))
    used |= set(
        re.findall(r"^\s*environment: ([A-Z_][A-Z0-9_]*)$", (repo / "compose.yaml").read_text(), re.M)
    )
    example = (repo / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert used - documented == set()


def test_env_file_with_secrets_is_git_ignored(repo: Path) -> None:
    assert ".env" in (repo / ".gitignore").read_text().split()
    assert re.findall(r"^[A-Z_]+=\S+", (repo / ".env.example").read_text(), re.M) == []


def test_every_stage_reads_the_tracing_settings_and_traces_nothing_by_default(
    compose: dict[str, Any],
) -> None:
    for name in STAGES:
        env = compose["services"][name]["environment"]
        # Empty unless set: no endpoint, no tracing (docs/tracing.md).
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}", name
        assert env["OTEL_TRACES_SAMPLER"] == "${OTEL_TRACES_SAMPLER:-parentbased_always_on}", name
        assert "OTEL_TRACES_SAMPLER_ARG" in env, name


def test_every_pipeline_health_check_probes_the_port_its_service_listens_on() -> None:
    health_port = healthcheck_module().health_port
    assert {*STAGES, "history", "console"} <= set(pipeline_services())
    for name, service in pipeline_services().items():
        env = container_environment(service)
        listens_on = env[listening_variable(service)]
        assert health_port(env, healthcheck_argv(service)[2:]) == listens_on, name
