"""The ``.env`` that ``aiops setup`` writes is what ``aiops up`` runs with: its values reach every
service, a variable of the real environment wins over the file, and a malformed line stops ``up``
before anything starts, naming the file and the line."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.faults._up import Up, up_env
from tests.integration.cli.conftest import WEBHOOKS, aiops
from tests.support.nats_server import NatsServer, free_port


async def post_webhook(port: int, token: str | None) -> int:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/webhook/alertmanager",
            data=(WEBHOOKS / "firing_two_alerts.json").read_bytes(),
            headers=headers,
        ) as response,
    ):
        return response.status


@pytest.mark.timeout(150)
async def test_up_runs_with_the_env_file_and_the_environment_wins(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env, ports = up_env(nats_server.url)
    env.pop("INGEST_AUTH_TOKEN", None)
    env_file = tmp_path / ".env"
    # INGEST_PORT is in both: the environment's port must win; the token is in the file only.
    env_file.write_text(f"# from aiops setup\nINGEST_PORT={free_port()}\nINGEST_AUTH_TOKEN='from-the-file'\n")
    env["AIOPS_ENV_FILE"] = str(env_file)
    async with Up(env, tmp_path / "data") as up:
        ready = await up.wait_for(r"pipeline up: webhook ([^\s,]+)", 60)
        assert ready[0][1] == f"http://127.0.0.1:{ports['ingest']}/webhook/alertmanager"
        assert await post_webhook(ports["ingest"], None) == 401
        assert await post_webhook(ports["ingest"], "from-the-file") == 200
        os.killpg(up.process.pid, signal.SIGINT)
        assert await asyncio.wait_for(up.process.wait(), 60) == 0, up.output()[-3000:]


async def test_a_malformed_env_file_stops_up_before_anything_starts(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=INFO\nSLACK_WEBHOOK_URL https://hooks.slack.com/services/secret\n")
    run = await aiops(
        "nats://127.0.0.1:1", "up", "--data", str(tmp_path / "data"), env={"AIOPS_ENV_FILE": str(env_file)}
    )
    assert run.code == 1
    assert run.stderr.strip() == f"aiops: {env_file}, line 2: expected KEY=VALUE"
    assert "started" not in run.stdout
