"""A service whose settings cannot work, found only once it runs (a port another process holds, a
source's URL), exits as a bad setting read at start does: code 2, one line naming the variable, no
traceback. Supervisors (systemd, Kubernetes, ``aiops up``) show that line and do not loop on it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime import CONFIG_ERROR_EXIT
from tests.support.nats_server import NatsServer
from tests.support.processes import BASE_ENV, REPO


async def exit_of(service: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{service}", cwd=REPO, env={**os.environ, **BASE_ENV, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("service", "variable"),
    [("ingest", "INGEST_PORT"), ("console", "CONSOLE_PORT"), ("enricher", "HEALTH_PORT")],
)
async def test_a_port_another_process_holds_is_named(
    service: str, variable: str, held_port: int, nats_server: NatsServer, tmp_path: Path
) -> None:
    env = {
        "NATS_URL": nats_server.url,
        "CONSOLE_HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'history.db'}",
        "HEALTH_PORT": "0",
        variable: str(held_port),
    }
    code, output = await exit_of(service, env)
    assert code == CONFIG_ERROR_EXIT, output
    assert (
        f"python -m services.{service}: configuration error: 127.0.0.1:{held_port} is already in use: "
        f"stop the process listening there, or set {variable} to a free port"
    ) in output
    assert "Traceback" not in output


async def test_a_setting_found_wrong_once_running_exits_as_a_configuration_error(
    nats_server: NatsServer,
) -> None:
    code, output = await exit_of(
        "enricher", {"NATS_URL": nats_server.url, "HEALTH_PORT": "0", "ELASTICSEARCH_URL": "elastic:9200"}
    )
    assert code == CONFIG_ERROR_EXIT, output
    assert "configuration error: ELASTICSEARCH_URL must be an http:// or https:// URL" in output
    assert "Traceback" not in output
