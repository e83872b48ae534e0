"""``aiops send``: a test alert through a running pipeline, and what it says when there is none."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats
import pytest

import schemas
from services import analyst, enricher
from services.cli._whereabouts import CLOCK_SLACK, DIAGNOSIS_SECONDS
from services.ingest import IngestSettings
from services.runtime import NatsSettings, ensure_stream
from tests.integration.cli.conftest import REPO, Run, aiops
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


async def send_timed(nats_url: str, *args: str, env: dict[str, str]) -> tuple[Run, float]:
    """``aiops send ARGS``, and the seconds from its "sent …" line to its exit: the wait and what follows,
    without Python's start-up, which a loaded machine makes long."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "send", *args, cwd=REPO,
        env={**os.environ, "NATS_URL": nats_url, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    async with asyncio.timeout(60):
        sent = await process.stdout.readline()
        sent_at = time.monotonic()
        rest, stderr = await asyncio.gather(process.stdout.read(), process.stderr.read())
        code = await process.wait()
    return Run(code, (sent + rest).decode(), stderr.decode()), time.monotonic() - sent_at


async def _store_old_dead_letter(nats_url: str) -> datetime:
    """A dead letter of another alert; when it was stored, at the latest."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, NatsSettings())
        letter = schemas.DeadLetter(
            subject=schemas.ENRICHED,
            stage="analyst",
            error="an earlier failure",
            error_type="handler",
            attempts=1,
            failed_at=datetime.now(UTC),
            payload='{"id": "an-earlier-alert"}',
        )
        await js.publish(schemas.DEAD, schemas.encode(letter))
    finally:
        await nc.close()
    return datetime.now(UTC)


@pytest.mark.timeout(90)
async def test_send_names_the_stage_the_alert_waits_for_soon_after_its_timeout(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    # Dead letters from before the send: the diagnosis reads none of them, and must not wait for one.
    letter_stored = await _store_old_dead_letter(url)
    async with contextlib.AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(running_ingest(settings_for(IngestSettings, url)))
        await stack.enter_async_context(
            running_stage(enricher.SPEC, settings_for(enricher.EnricherSettings, url))
        )
        # The analyst ran once (its consumer stays) and is down now.
        settings: Any = settings_for(analyst.AnalystSettings, url)
        async with running_stage(analyst.SPEC, settings) as analyst_port:
            pass
        # Not synchronisation: the letter must age out of the window the diagnosis reads (CLOCK_SLACK
        # before the post), which only time does.
        await asyncio.sleep(max(0.0, (letter_stored + CLOCK_SLACK - datetime.now(UTC)).total_seconds()))
        env = {"INGEST_PORT": ingest.rsplit(":", 1)[1], "ANALYST_HEALTH_PORT": str(analyst_port)}
        run, after_sent = await send_timed(url, "--timeout", "2", env=env)

    assert run.code == 1
    assert run.stdout.startswith("sent HighCPUUsage (")
    reason = run.stderr.strip()
    assert reason.startswith("aiops send: no analysis of")
    assert "within 2 s" in reason
    assert "it waits for the analyst (down: nothing listens there" in reason
    assert "1 pending" in reason
    # Its timeout, then the diagnosis within its bound (a second more for closing, on a loaded machine).
    assert after_sent < 2 + DIAGNOSIS_SECONDS + 1, after_sent


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
