"""infra/docker/healthcheck.py, run as compose.yaml runs it, against the real services.

No Docker here: each service runs as a process with the environment compose.yaml gives its container
(NATS, the database and its own port moved to this machine's), and the check runs with exactly that
environment and the command compose.yaml (or the Dockerfile's HEALTHCHECK) gives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compose import (
    REPO,
    compose_services,
    container_environment,
    healthcheck_argv,
    listening_variable,
)
from tests.support.nats_server import NatsServer, free_port
from tests.support.processes import wait_ready

# history first: it creates the database the console reads.
SERVICES = ("ingest", "history", "console")


@pytest.fixture
def running(nats_server: NatsServer, tmp_path: Path) -> Iterator[dict[str, tuple[dict[str, str], str]]]:
    """Each service's container environment (with local addresses) and its URL, the service running."""
    started: dict[str, tuple[dict[str, str], str, subprocess.Popen[bytes]]] = {}
    database = f"sqlite:///{tmp_path / 'history.db'}"
    try:
        for name in SERVICES:
            service = compose_services()[name]
            env = container_environment(service)
            port = str(free_port())
            env[listening_variable(service)] = port
            env["NATS_URL"] = nats_server.url
            if "DATABASE_URL" in env:
                env["DATABASE_URL"] = database
            inherited = {k: v for k, v in os.environ.items() if not k.endswith(("_PORT", "_URL"))}
            with (tmp_path / f"{name}.log").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", service["command"][0]],
                    env={**inherited, **env, "LOG_FORMAT": "text"},
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            started[name] = (env, f"http://127.0.0.1:{port}", process)
        yield {name: (env, url) for name, (env, url, _) in started.items()}
    finally:
        for _, _, process in started.values():
            process.terminate()
        for _, _, process in started.values():
            process.wait(30)


@pytest.mark.timeout(90)
async def test_the_health_check_of_each_container_finds_its_service(
    running: dict[str, tuple[dict[str, str], str]], tmp_path: Path
) -> None:
    for name, (env, url) in running.items():
        log = tmp_path / f"{name}.log"
        await wait_ready(url, 40, name, log=log.read_text)
        argv = healthcheck_argv(compose_services()[name])
        check = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, f"{name}: {check.stderr}"
