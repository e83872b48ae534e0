"""docs/troubleshooting.md: its diagnosis commands, run against a pipeline, answer what the page quotes.

The page's commands run as written through bash, with the default ports swapped for the test's.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

import schemas
from services.cli._common import CONNECT_TIMEOUT_SECONDS
from tests.integration.cli.conftest import REPO, aiops
from tests.integration.cli.test_quickstart import shell
from tests.support.nats_server import NatsServer, free_port
from tests.support.services import running_pipeline

PAGE = REPO / "docs" / "troubleshooting.md"
TOKEN = "troubleshooting-token"


def section(number: int) -> str:
    return PAGE.read_text().split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def commands(text: str) -> list[str]:
    """Shell commands of the ```sh blocks, continuation lines joined, comments dropped."""
    lines = [
        line for block in re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL) for line in block.splitlines()
    ]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [
        re.sub(r"\s+#.*$", "", line)
        for line in joined.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def flat(text: str) -> str:
    return " ".join(text.split())


@contextlib.asynccontextmanager
async def pipeline_ports(nats_url: str) -> AsyncIterator[dict[str, int]]:
    """Where each service listens, keyed by the default port the page quotes."""
    async with running_pipeline(nats_url, ingest={"ingest_auth_token": TOKEN}) as running:
        defaults = {"ingest": "8000", "enricher": "8001", "analyst": "8002", "notifier": "8003"}
        yield {default: running.ports[name] for name, default in defaults.items()}


def localize(command: str, ports: dict[str, int], token_file: Path) -> str:
    for default, port in ports.items():
        command = command.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    command = command.replace("/path/to/alertmanager/credentials_file", str(token_file))
    return command.replace(".venv/bin/aiops", f"{sys.executable} -m services.cli")


@pytest.mark.timeout(60)
async def test_the_diagnoses_answer_what_the_page_says(nats_server: NatsServer, tmp_path: Path) -> None:
    env = {**os.environ, "NATS_URL": nats_server.url, "INGEST_AUTH_TOKEN": TOKEN}
    wrong_token = tmp_path / "credentials_file"
    wrong_token.write_text("not-the-token\n")
    async with pipeline_ports(nats_server.url) as ports:
        # 1. A token that differs: the replayed request says 401, and ingest counted it.
        without_alertmanager = [c for c in commands(section(1)) if "9093" not in c]
        count, replay = without_alertmanager
        status = await shell(localize(replay, ports, wrong_token), env)
        counted = await shell(localize(count, ports, wrong_token), env)
        assert status.strip() == "401"
        assert 'code="401"' in counted
        wrong_token.write_text(TOKEN + "\n")
        assert (await shell(localize(without_alertmanager[-1], ports, wrong_token), env)).strip() == "200"

        # 2. A body that is not a webhook: the answer the page quotes.
        metrics, refused = [await shell(localize(c, ports, wrong_token), env) for c in commands(section(2))]
        assert "aiops_ingest_requests_total" in metrics
        assert f"# {refused.strip()}" in section(2)

        # The three commands at the top, on a healthy pipeline.
        # `aiops status` finds the services where `aiops up` starts them: these variables, else the defaults.
        where = {"INGEST_PORT": str(ports["8000"])}
        where |= {
            f"{name}_HEALTH_PORT": str(ports[p])
            for name, p in (("ENRICHER", "8001"), ("ANALYST", "8002"), ("NOTIFIER", "8003"))
        }
        status, ready, dead = [
            await shell(localize(c, ports, wrong_token), {**env, **where})
            for c in commands(PAGE.read_text().split("\n## 1. ")[0])
        ]
        assert "✓ every service is up and ready" in status
        assert "dead letters stored: 0" in status
        assert ready.strip() == '{"status": "ready"}'
        assert dead.strip() == "no dead letters"

        # 4. The stream deleted under running services: /readyz and aiops say what the page says.
        nc = await nats.connect(nats_server.url)
        await nc.jetstream().delete_stream(schemas.STREAM)
        await nc.close()
        readyz = await shell(f"curl -s http://127.0.0.1:{ports['8001']}/readyz", env)
        assert flat(readyz.strip()) in flat(section(4))
        listed = await shell(f"{localize(commands(section(4))[0], ports, wrong_token)} 2>&1 || true", env)
        assert listed.strip().split(";")[0] in section(4)


async def test_nats_unreachable_every_command_says_what_the_page_says_at_once(tmp_path: Path) -> None:
    # 3. Nothing listens at NATS_URL: the page's `aiops dlq list`, and every other command that needs NATS.
    port = free_port()
    quoted = re.search(r"aiops dlq list +# (.*)", section(3))
    assert quoted is not None
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'history.db'}"}
    for command in (
        ["dlq", "list"],
        ["dlq", "redrive", "--all"],
        ["tail"],
        ["replay", "--since", "1h"],
        ["history", "rebuild"],
    ):
        started = time.monotonic()
        run = await aiops(f"nats://127.0.0.1:{port}", *command, env=env)
        took = time.monotonic() - started

        assert run.code == 1, run
        assert run.stderr.replace(str(port), "4222") == quoted[1] + "\n", command
        # A refused connection is known at once: the command does not wait out its connect timeout
        # (which its start-up alone, even on a busy machine, stays well within).
        assert took < CONNECT_TIMEOUT_SECONDS, (command, took)
