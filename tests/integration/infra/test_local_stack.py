"""`python -m infra.local.stack` runs Debian's Prometheus and Alertmanager on the repository's configs.

A small webhook receiver listens on the ingest port; what it sees is what ingest would be sent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.support.nats_server import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None
    or (shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")) is None,
    reason="Debian packages prometheus and prometheus-alertmanager not installed",
)
TOKEN = "stack-test-token"


@pytest.fixture
async def webhooks() -> AsyncIterator[tuple[int, asyncio.Queue[tuple[str, Any]]]]:
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await received.put((request.headers.get("Authorization", ""), await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhook/alertmanager", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, received
    finally:
        await runner.cleanup()


async def _read_until(stream: asyncio.StreamReader, marker: str) -> str:
    seen = ""
    while marker not in seen:
        line = await stream.readline()
        if not line:
            raise AssertionError(f"stack exited before {marker!r}:\n{seen}")
        seen += line.decode()
    return seen


async def _scrape_urls(http: aiohttp.ClientSession, url: str, job: str) -> dict[str, str]:
    """Prometheus applies its scrape config just after it reports ready; poll until ``job`` shows up."""
    async with asyncio.timeout(10):
        while True:
            async with http.get(url) as response:
                targets = (await response.json())["data"]["activeTargets"]
            scraped = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
            if job in scraped:
                return scraped
            await asyncio.sleep(0.1)


@pytest.mark.timeout(60)
async def test_stack_serves_the_repository_rules_and_delivers_with_the_bearer_token(
    repo: Path, tmp_path: Path, webhooks: tuple[int, asyncio.Queue[tuple[str, Any]]]
) -> None:
    ingest_port, received = webhooks
    prometheus_port, alertmanager_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "infra.local.stack", "--data-dir", str(tmp_path / "stack")],
        *["--prometheus-port", str(prometheus_port), "--alertmanager-port", str(alertmanager_port)],
        *["--ingest-port", str(ingest_port), "--group-wait", "1s"],
        cwd=repo,
        env={**os.environ, "INGEST_AUTH_TOKEN": TOKEN},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(40):
            banner = await _read_until(process.stdout, "Ctrl-C stops both")
        assert f"http://127.0.0.1:{prometheus_port}" in banner
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            prometheus = f"http://127.0.0.1:{prometheus_port}/api/v1"
            async with http.get(f"{prometheus}/rules") as response:
                groups = (await response.json())["data"]["groups"]
            alerts = {rule["name"] for group in groups for rule in group["rules"]}
            assert {"InstanceDown", "HighCPUUsage", "AiopsStageDown", "AiopsDeadLetters"} <= alerts
            scraped = await _scrape_urls(http, f"{prometheus}/targets", "aiops-ingest")
            assert scraped["aiops-ingest"] == f"http://127.0.0.1:{ingest_port}/metrics"

            alert = {
                "labels": {"alertname": "StackSmoke", "severity": "warning"},
                "annotations": {"summary": "s"},
            }
            url = f"http://127.0.0.1:{alertmanager_port}/api/v2/alerts"
            async with http.post(url, json=[alert]) as response:
                assert response.status == 200
        authorization, payload = await asyncio.wait_for(received.get(), timeout=20)
        assert authorization == f"Bearer {TOKEN}"
        assert payload["version"] == "4"
        assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["StackSmoke"]
        token_file = tmp_path / "stack" / "ingest_token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert TOKEN not in banner
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stdout.read(), timeout=20)
    assert await process.wait() == 0, rest.decode()
    assert "stack stopped" in rest.decode()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", prometheus_port)) != 0, "prometheus still listening"


@pytest.mark.timeout(60)
async def test_stack_reads_the_env_file_as_aiops_up_does(
    repo: Path, tmp_path: Path, webhooks: tuple[int, asyncio.Queue[tuple[str, Any]]]
) -> None:
    """`aiops setup` wrote the token and a moved stage port to `.env`: `just stack` must use both."""
    ingest_port, received = webhooks
    prometheus_port, alertmanager_port = free_port(), free_port()
    enricher_port, notifier_in_file, notifier_port = free_port(), free_port(), free_port()
    (tmp_path / ".env").write_text(
        f"INGEST_AUTH_TOKEN={TOKEN}\nINGEST_PORT={ingest_port}\n"
        f"ENRICHER_HEALTH_PORT={enricher_port}\nNOTIFIER_HEALTH_PORT={notifier_in_file}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PORT") and k != "INGEST_AUTH_TOKEN"}
    env.pop("AIOPS_ENV_FILE", None)
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "infra.local.stack", "--data-dir", str(tmp_path / "stack")],
        *["--prometheus-port", str(prometheus_port), "--alertmanager-port", str(alertmanager_port)],
        *["--group-wait", "1s"],
        cwd=tmp_path,
        # The environment wins over the file, as under `aiops up`.
        env={**env, "PYTHONPATH": str(repo), "NOTIFIER_HEALTH_PORT": str(notifier_port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(40):
            banner = await _read_until(process.stdout, "Ctrl-C stops both")
        assert "with bearer token from INGEST_AUTH_TOKEN" in banner
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            prometheus = f"http://127.0.0.1:{prometheus_port}/api/v1"
            scraped = await _scrape_urls(http, f"{prometheus}/targets", "aiops-notifier")
            assert scraped["aiops-ingest"] == f"http://127.0.0.1:{ingest_port}/metrics"
            assert scraped["aiops-enricher"] == f"http://127.0.0.1:{enricher_port}/metrics"
            assert scraped["aiops-analyst"] == "http://127.0.0.1:8002/metrics"
            assert scraped["aiops-notifier"] == f"http://127.0.0.1:{notifier_port}/metrics"
            alert = {"labels": {"alertname": "StackEnvFile"}, "annotations": {"summary": "s"}}
            url = f"http://127.0.0.1:{alertmanager_port}/api/v2/alerts"
            async with http.post(url, json=[alert]) as response:
                assert response.status == 200
        authorization, payload = await asyncio.wait_for(received.get(), timeout=20)
        assert authorization == f"Bearer {TOKEN}"
        assert [a["labels"]["alertname"] for a in payload["alerts"]] == ["StackEnvFile"]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stdout.read(), timeout=20)
    assert await process.wait() == 0, rest.decode()
