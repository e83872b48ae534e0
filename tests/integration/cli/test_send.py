"""``aiops send``: a test alert through a running pipeline, and what it says when there is none."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import nats
import pytest

import schemas
from services import analyst, enricher
from services.ingest import IngestSettings
from tests.integration.cli.conftest import aiops
from tests.support.nats_server import NatsServer, free_port
from tests.support.services import running_ingest, running_pipeline, running_stage, settings_for
from tests.support.stream import read_subject

TOKEN = "s3nd-test-token-not-a-secret"


@pytest.mark.timeout(90)
async def test_send_posts_a_sample_or_a_built_alert_and_prints_its_analysis(nats_server: NatsServer) -> None:
    ingest = {"ingest_auth_token": TOKEN}
    async with running_pipeline(nats_server.url, ingest=ingest) as pipeline:
        env = {"INGEST_PORT": str(pipeline.ports["ingest"]), "INGEST_AUTH_TOKEN": TOKEN}
        sample = await aiops(nats_server.url, "send", "--sample", "kubepodcrashlooping", env=env)
        built = await aiops(
            nats_server.url,
            *("send", "--label", "alertname=DataVolAlmostFull", "--label", "severity=critical"),
            *("--annotation", "summary=/data is 97% full on db-3", "--json"),
            env=env,
        )
        no_token = await aiops(nats_server.url, "send", env={**env, "INGEST_AUTH_TOKEN": ""})
        nc = await nats.connect(nats_server.url)
        try:
            stored = await read_subject(nc.jetstream(), schemas.ANALYZED, schemas.AnalyzedAlert, count=2)
        finally:
            await nc.close()

    assert sample.code == 0, sample.stderr
    first, *rest = sample.stdout.splitlines()
    assert first.startswith("sent KubePodCrashLooping (")
    crashloop = next(m for m in stored if m.alert.labels["alertname"] == "KubePodCrashLooping")
    # The analysis printed is the one of the alert sent, recognised by its id.
    assert crashloop.id[:12] in first
    assert crashloop.id[:12] in "\n".join(rest)
    assert "root cause:" in sample.stdout

    assert built.code == 0, built.stderr
    # With --json stdout is the analysis alone (`aiops send --json | jq` works); progress went to stderr.
    analysed = schemas.decode(built.stdout, schemas.AnalyzedAlert)
    assert built.stderr.startswith(f"sent DataVolAlmostFull ({analysed.id[:12]}) to ")
    assert analysed.alert.labels == {"alertname": "DataVolAlmostFull", "severity": "critical"}
    assert analysed.alert.annotations == {"summary": "/data is 97% full on db-3"}
    assert analysed.group.receiver == "aiops"
    assert analysed.analysis.category == "disk_capacity"

    assert no_token.code == 1
    assert "refused the credentials (401)" in no_token.stderr
    assert "Traceback" not in no_token.stderr


async def test_send_with_no_pipeline_running_says_so_in_one_line() -> None:
    port = free_port()
    run = await aiops(f"nats://127.0.0.1:{free_port()}", "send", env={"INGEST_PORT": str(port)})

    assert run.code == 1
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(
        f"aiops send: no pipeline running: nothing answers at http://127.0.0.1:{port}"
    )


@pytest.mark.timeout(90)
async def test_send_names_the_stage_the_alert_waits_for_after_its_timeout(nats_server: NatsServer) -> None:
    url = nats_server.url
    async with contextlib.AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(running_ingest(settings_for(IngestSettings, url)))
        await stack.enter_async_context(
            running_stage(enricher.SPEC, settings_for(enricher.EnricherSettings, url))
        )
        # The analyst ran once (its consumer stays) and is down now.
        settings: Any = settings_for(analyst.AnalystSettings, url)
        async with running_stage(analyst.SPEC, settings) as analyst_port:
            pass
        env = {"INGEST_PORT": ingest.rsplit(":", 1)[1], "ANALYST_HEALTH_PORT": str(analyst_port)}
        run = await aiops(url, "send", "--timeout", "2", env=env)

    assert run.code == 1
    assert run.stdout.startswith("sent HighCPUUsage (")
    reason = run.stderr.strip()
    assert reason.startswith("aiops send: no analysis of")
    assert "within 2 s" in reason
    assert "it waits for the analyst (down: nothing listens there" in reason
    assert "1 pending" in reason


async def _not_ready(ingest: str) -> None:
    """Wait until ingest noticed that NATS is gone."""
    async with asyncio.timeout(20), aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{ingest}/readyz") as response:
                if response.status == 503:
                    return
            await asyncio.sleep(0.05)


async def test_send_says_ingest_is_not_ready_when_nats_is_gone(nats_server: NatsServer) -> None:
    async with running_ingest(settings_for(IngestSettings, nats_server.url)) as ingest:
        nats_server.stop()
        await _not_ready(ingest)
        run = await aiops(nats_server.url, "send", "--url", ingest)

    assert run.code == 1
    assert run.stderr == f"aiops send: ingest at {ingest} is not ready: not connected to NATS\n"
