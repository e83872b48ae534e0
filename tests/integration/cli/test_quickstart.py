"""docs/quickstart.md, sections 1 and 2, run as written: the demo, then ``aiops up`` and its commands.

Only the addresses change: the test's nats-server (NATS_URL) and a free ingest port instead of 8000.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import nats
import pytest

import schemas
from services.runtime import CONSUMERS
from tests.integration.cli.conftest import REPO, aiops, post_webhook
from tests.support.nats_server import NatsServer, free_port

QUICKSTART = REPO / "docs" / "quickstart.md"


def section_commands(heading: str) -> list[str]:
    """The shell lines of the ```sh blocks under one ``## `` heading of the quick start."""
    section = QUICKSTART.read_text().split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


async def shell(command: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", command, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"{command}\n{stderr.decode()}"
    return stdout.decode()


async def started(command: str, data: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``aiops COMMAND`` as run in a terminal: in a process group of its own, output read here."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", command, "--data", str(data), cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


async def printed(process: asyncio.subprocess.Process, marker: bytes, within: float) -> str:
    """Until the command prints a line holding ``marker``; fails if it exits first. What it printed."""
    assert process.stdout is not None
    lines = []
    async with asyncio.timeout(within):
        while marker not in (line := await process.stdout.readline()):
            assert line, f"the command exited before printing {marker!r}"
            lines.append(line)
    return b"".join([*lines, line]).decode()


async def ctrl_c(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group, every child included.
    The exit code and what the command printed after it."""
    assert process.stdout is not None
    os.killpg(process.pid, signal.SIGINT)
    rest = await asyncio.wait_for(process.stdout.read(), 60)
    return await process.wait(), rest.decode()


@pytest.mark.timeout(120)
async def test_the_demo_analyses_and_notifies_every_sample(nats_server: NatsServer, tmp_path: Path) -> None:
    assert section_commands("1. The demo") == ["just demo"]
    env = {"INGEST_PORT": str(free_port()), "HEALTH_PORT": "0", "DEMO_ONCE": "1"}
    run = await aiops(
        nats_server.url, "demo", "--timeout", "90", "--data", str(tmp_path), timeout=110, env=env
    )
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "demo: all 6 sample alerts analysed and notified" in run.stdout
    for name in ("HighCPUUsage", "KubePodCrashLooping", "SSLCertExpiringSoon", "root cause:"):
        assert name in run.stdout


@pytest.mark.timeout(120)
async def test_up_then_the_commands_of_section_two(nats_server: NatsServer, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NATS_URL": nats_server.url, "INGEST_PORT": str(port), "HEALTH_PORT": "0"}
    commands = section_commands("2. The pipeline, and an alert by hand")
    assert commands[0] == "just up"
    up = await started("up", tmp_path, env)
    try:
        await printed(up, b"pipeline up:", within=60)
        outputs = []
        for command in commands[1:]:
            local = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            local = local.replace(".venv/bin/aiops", f"{sys.executable} -m services.cli")
            outputs.append(await shell(local, env))
    finally:
        code, rest = await ctrl_c(up)

    analysis, accepted, status, tail = outputs
    assert json.loads(analysis)["analysis"]["category"] == "memory_pressure"
    assert json.loads(accepted)["accepted"] == 2
    # Every durable consumer is reported, the companions (incidents, history) included.
    assert set(json.loads(status)["consumers"]) == set(CONSUMERS)
    assert "KubePodCrashLooping" in tail
    assert "HighCPUUsage" in tail
    assert "DiskSpaceLow" in tail
    # Ctrl-C stops everything cleanly.
    assert code == 0, rest[-2000:]
    assert "stopping" in rest


@pytest.mark.timeout(120)
async def test_the_demo_shows_its_console_says_once_it_keeps_running_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path,
) -> None:
    # `just demo` as a person runs it: its own nats-server, running until Ctrl-C.
    ports = {
        name: str(free_port())
        for name in (
            "NATS_PORT", "NATS_MONITOR_PORT", "INGEST_PORT", "CONSOLE_PORT", "ENRICHER_HEALTH_PORT",
            "ANALYST_HEALTH_PORT", "NOTIFIER_HEALTH_PORT", "HISTORY_HEALTH_PORT",
        )
    }  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "NATS_URL"}
    demo = await started("demo", tmp_path, {**env, **ports, "HEALTH_PORT": "0"})
    try:
        samples = await printed(demo, b"send --list", within=90)
        # An alert of one's own after the samples: its analysis is printed, the news above is not again.
        await post_webhook(f"http://127.0.0.1:{ports['INGEST_PORT']}", "firing_two_alerts.json")
        await printed(demo, b"DiskSpaceLow", within=60)
        # Anyone may publish on the subject the demo reads: it says so and goes on.
        nc = await nats.connect(f"nats://127.0.0.1:{ports['NATS_PORT']}")
        try:
            await nc.publish(schemas.ANALYZED, b"not an analysis")
            await nc.flush()
        finally:
            await nc.close()
        await printed(demo, b"that is no analysis", within=30)
        assert demo.returncode is None
    finally:
        code, rest = await ctrl_c(demo)

    assert f"console http://127.0.0.1:{ports['CONSOLE_PORT']}" in samples
    # Once the samples are in, it names what to look at next.
    assert "keeps running" in samples
    assert re.search(r"aiops status +every stage", samples), samples[-2000:]
    assert re.search(r"aiops tail --since 1h +these analyses", samples), samples[-2000:]
    assert "keeps running" not in rest, rest[-2000:]
    assert code == 0, rest[-2000:]
    assert "stopping" in rest
    # Its nats-server's exit is part of the stop, not a failure; and no traceback from its reader.
    assert "exited with code" not in rest
    assert "Traceback" not in rest
    assert "encountered error" not in rest
