"""``POST /analyze`` over a real socket: refused to strangers on an open address, a budget per client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from services.ingest import IngestSettings
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.services import running_ingest, settings_for
from tests.support.webhooks import webhook

MANUAL = b'{"labels": {"alertname": "DiskFull", "instance": "db-1"}}'


async def post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, object], dict[str, str]]:
    headers.setdefault("Content-Type", "application/json")
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read()), dict(response.headers)


@pytest.fixture
async def open_ingest(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    """Ingest as deployed carelessly: every address, no credentials."""
    process = ServiceProcess("ingest", {"NATS_URL": nats_server.url, "INGEST_HOST": "0.0.0.0"}, tmp_path)
    process.start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


async def test_an_open_ingest_warns_at_start_and_refuses_analyze_but_keeps_the_webhook(
    open_ingest: ServiceProcess,
) -> None:
    status, answer, _ = await post(f"{open_ingest.url}/analyze", MANUAL)
    assert status == 403, answer
    assert "INGEST_AUTH_TOKEN" in str(answer["error"])
    assert "ANALYZE_ALLOW_UNAUTHENTICATED" in str(answer["error"])
    # Alertmanager's own default is unauthenticated: its webhook keeps working.
    status, answer, _ = await post(f"{open_ingest.url}/webhook/alertmanager", webhook("open", 0, 1))
    assert (status, answer["accepted"]) == (200, 1)
    warnings = [
        line for line in open_ingest.log().splitlines() if "WARNING" in line and "no credentials" in line
    ]
    assert len(warnings) == 1, open_ingest.log()[-2000:]
    assert "0.0.0.0" in warnings[0]
    assert "INGEST_AUTH_TOKEN" in warnings[0]


@pytest.mark.parametrize(
    ("env", "headers"),
    [
        ({"analyze_allow_unauthenticated": "true"}, {}),
        ({"ingest_auth_token": "t0ken-for-analyze"}, {"Authorization": "Bearer t0ken-for-analyze"}),
    ],
    ids=["allowed-explicitly", "with-a-token"],
)
async def test_an_open_ingest_serves_analyze_when_allowed_or_with_credentials(
    nats_server: NatsServer, env: dict[str, str], headers: dict[str, str]
) -> None:
    settings = settings_for(IngestSettings, nats_server.url, ingest_host="0.0.0.0", **env)
    async with running_ingest(settings) as url:
        status, answer, _ = await post(f"{url}/analyze", MANUAL, **headers)
    assert status == 202, answer


async def test_each_client_gets_a_budget_of_analyses_and_then_429_with_retry_after(
    nats_server: NatsServer,
) -> None:
    settings = settings_for(IngestSettings, nats_server.url, analyze_rate_per_minute=6, analyze_burst=2)
    async with running_ingest(settings) as url:
        # A body that could never reach the LLM spends nothing.
        for _ in range(5):
            status, answer, _ = await post(f"{url}/analyze", b'{"labels": {}}')
            assert status == 400, answer
        answers = [await post(f"{url}/analyze", MANUAL) for _ in range(3)]
        # The webhook is not part of the budget.
        webhooks = await asyncio.gather(
            *(post(f"{url}/webhook/alertmanager", webhook("b", i, 1)) for i in range(5))
        )
    assert [status for status, _, _ in answers] == [202, 202, 429]
    _, refused, headers = answers[2]
    assert headers["Retry-After"] == "10"  # 6 a minute
    assert "retry in 10 s" in str(refused["error"])
    assert [status for status, _, _ in webhooks] == [200] * 5
