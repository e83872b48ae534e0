"""The ``aiops`` command as operators run it: a subprocess with NATS_URL, next to in-process stages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from tests.support.services import running_pipeline

REPO = Path(__file__).resolve().parents[3]
WEBHOOKS = REPO / "tests" / "fixtures" / "alertmanager"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


async def aiops(nats_url: str, *args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Run:
    """``python -m services.cli ARGS`` with NATS_URL (and ``env``) set, from the repository root."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *args,
        cwd=REPO,
        env={**os.environ, "NATS_URL": nats_url, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"aiops {' '.join(args)} still running after {timeout}s") from None
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


def in_a_terminal(
    nats_url: str, *args: str, columns: int = 100, code: int = 0, env: dict[str, str] | None = None
) -> str:
    """Run aiops with a pseudo-terminal ``columns`` wide as its stdout, as a person at a shell runs it;
    what it printed. It must exit with ``code``."""
    leader, follower = pty.openpty()
    terminal = {"TERM": "xterm-256color", "COLUMNS": str(columns)}
    process_env = {**os.environ, "NATS_URL": nats_url, **terminal, **(env or {})}
    process_env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", *args],
        cwd=REPO,
        env=process_env,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(30) == code, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@contextlib.asynccontextmanager
async def pipeline(nats_url: str, **env: str) -> AsyncIterator[str]:
    """Ingest and the three consuming stages in-process; yields ingest's base URL."""
    async with running_pipeline(nats_url, stages={"retry_backoff_seconds": "0.1", **env}) as running:
        yield running.url


async def post_webhook(ingest_url: str, fixture: str) -> list[str]:
    """Post one of the Alertmanager fixtures; returns the alert ids ingest stored."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{ingest_url}/webhook/alertmanager",
            data=(WEBHOOKS / fixture).read_bytes(),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        ids: list[str] = orjson.loads(await response.read())["ids"]
        return ids
