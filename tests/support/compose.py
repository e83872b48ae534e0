"""What compose.yaml gives a pipeline container: its environment and its health check command.

Read from the file itself, so a test runs ``infra/docker/healthcheck.py`` as Docker would, without Docker.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE_SCRIPT = "/opt/aiops/healthcheck.py"
# The setting each service's own HTTP server listens on (its settings class); the stages and history
# take HEALTH_PORT.
LISTENS_ON = {"services.ingest": "INGEST_PORT", "services.console": "CONSOLE_PORT"}


def compose_services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    return loaded


def pipeline_services() -> dict[str, Any]:
    """The services built from infra/Dockerfile, which carry its HEALTHCHECK."""
    return {
        name: service
        for name, service in compose_services().items()
        if service.get("build", {}).get("dockerfile") == "infra/Dockerfile"
    }


def listening_variable(service: dict[str, Any]) -> str:
    return LISTENS_ON.get(service["command"][0], "HEALTH_PORT")


def container_environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's ``environment`` as compose sets it with no .env: ``${VAR:-default}`` is the default."""
    return {
        key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))
        for key, value in service.get("environment", {}).items()
    }


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    """The check's command with the repository's script and this Python, as the container runs it."""
    test = service.get("healthcheck", {}).get("test")
    if test is None:
        text = (REPO / "infra" / "Dockerfile").read_text().replace("\\\n", " ")
        line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK "))
        test = ["CMD", *yaml.safe_load(line.split(" CMD ", 1)[1])]
    assert test[0] == "CMD", f"unexpected health check form {shlex.join(test)}"
    command = [
        str(REPO / "infra" / "docker" / "healthcheck.py") if a == IMAGE_SCRIPT else a for a in test[1:]
    ]
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def healthcheck_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", REPO / "infra" / "docker" / "healthcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
