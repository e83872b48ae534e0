"""``aiops status`` against real services on a real nats-server: it shows what the test made happen."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats
import orjson
import pytest

import schemas
from services import analyst, enricher, notifier
from services.analyst._budget import SharedTally
from services.cli._probes import PROBE_SECONDS
from services.cli._send import built_webhook
from services.ingest import IngestSettings
from tests.fakes.llm import FakeLlm
from tests.fakes.slack import NO_SERVICE, FakeSlack
from tests.integration.cli.conftest import REPO, Run, aiops, in_a_terminal, post_webhook
from tests.support.nats_server import free_port
from tests.support.services import running_ingest, running_pipeline, running_stage, settings_for
from tests.support.stream import caught_up, wait_for_count


def port_env(ports: dict[str, int]) -> dict[str, str]:
    """Where the aiops subprocess finds each service: the variables `aiops up` sets."""
    return {
        "INGEST_PORT": str(ports["ingest"]),
        **{f"{name.upper()}_HEALTH_PORT": str(ports[name]) for name in ("enricher", "analyst", "notifier")},
        # History and the console are not started here: ports where nothing listens, whatever else runs.
        "HISTORY_HEALTH_PORT": str(free_port()),
        "CONSOLE_PORT": str(free_port()),
        "LLM_DAILY_TOKENS": "0",
        "LLM_BUDGET_BUCKET": "aiops-llm-budget",
    }


async def status_json(nats_url: str, ports: dict[str, int], **env: str) -> tuple[Run, dict[str, Any]]:
    run = await aiops(nats_url, "status", "--json", env={**port_env(ports), **env})
    assert run.stdout, run.stderr
    return run, orjson.loads(run.stdout)


async def post_alert(ingest_url: str, labels: dict[str, str]) -> None:
    webhook = built_webhook(labels, {}, datetime.now(UTC))
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{ingest_url}/webhook/alertmanager", json=webhook) as response,
    ):
        assert response.status == 200, await response.text()


@pytest.mark.timeout(90)
async def test_status_shows_backlog_work_in_progress_and_dead_letters_and_fails_when_a_stage_is_down(
    nats_server: Any,
) -> None:
    url = nats_server.url
    stage = {"retry_backoff_seconds": "0.1"}
    async with contextlib.AsyncExitStack() as stack:
        ingest = await stack.enter_async_context(running_ingest(settings_for(IngestSettings, url)))
        ports = {"ingest": int(ingest.rsplit(":", 1)[1])}
        for spec, settings_type in (
            (enricher.SPEC, enricher.EnricherSettings),
            (analyst.SPEC, analyst.AnalystSettings),
        ):
            ports[spec.name] = await stack.enter_async_context(
                running_stage(spec, settings_for(settings_type, url, **stage))
            )
        # The notifier runs once (its durable consumer stays) and stops: what comes next waits for it.
        async with running_stage(notifier.SPEC, settings_for(notifier.NotifierSettings, url)) as port:
            ports["notifier"] = port

        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            await post_webhook(ingest, "firing_two_alerts.json")
            # A message no stage can read: the enricher dead-letters it.
            await js.publish(schemas.RAW, b'{"schema": 1, "id": ', headers={schemas.MSG_ID_HEADER: "bad-1"})
            await wait_for_count(js, schemas.ANALYZED, 2, timeout=20)
            await wait_for_count(js, schemas.DEAD, 1, timeout=20)
            # One analysis taken from the notifier's consumer and held unacked, as a stuck replica holds it.
            held = await js.pull_subscribe_bind("notifier", stream=schemas.STREAM)
            assert len(await held.fetch(1, timeout=5)) == 1
            tally = await SharedTally.open(js, "aiops-llm-budget")
            await tally.add(datetime.now(UTC).date().isoformat(), 1234)

            run, report = await status_json(url, ports, LLM_DAILY_TOKENS="5000")
            screen = await aiops(url, "status", env=port_env(ports))
        finally:
            await nc.close()

    assert run.code == 1, run
    services = report["services"]
    assert services["notifier"]["up"] is False
    assert report["problems"] == [
        f"notifier is down: nothing listens there (http://127.0.0.1:{ports['notifier']})"
    ]
    assert all(services[name]["ready"] for name in ("ingest", "enricher", "analyst"))
    # Optional services not running are shown as such, and are no problem.
    assert services["history"]["reason"].startswith("not running")
    assert (services["notifier"]["lag"], services["notifier"]["ack_pending"]) == (1, 1)
    assert (services["enricher"]["lag"], services["enricher"]["ack_pending"]) == (0, 0)
    assert (services["analyst"]["lag"], services["analyst"]["ack_pending"]) == (0, 0)
    assert report["dead_letters"] == 1
    assert services["enricher"]["dead_lettered_since_start"] == 1
    assert services["analyst"]["dead_lettered_since_start"] == 0
    assert report["llm"]["tokens_today"] == 1234
    assert report["llm"]["daily_limit"] == 5000
    assert report["llm"]["breaker"] == "closed"

    assert screen.code == 1
    assert "notifier is down" in screen.stdout
    assert "dead letters stored: 1 (aiops dlq list)" in screen.stdout
    assert "tokens today 1,234" in screen.stdout


@pytest.mark.timeout(90)
async def test_status_counts_deliveries_per_destination_and_fails_while_the_llm_breaker_is_open(
    nats_server: Any, slack: FakeSlack, fake_llm: FakeLlm
) -> None:
    slack.answer(NO_SERVICE)  # the first post is refused for good (a revoked webhook)
    stages = {
        "retry_backoff_seconds": "0.1",
        "slack_webhook_url": slack.url,
        "llm_api_key": "sk-test-not-a-secret",
        "llm_base_url": fake_llm.url,
        "llm_breaker_failures": "1",
        "llm_max_retries": "0",
    }
    async with running_pipeline(nats_server.url, stages=stages) as pipeline:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            await post_webhook(pipeline.url, "firing_two_alerts.json")
            await slack.wait_for(2, within=30)
            await caught_up(js, "notifier")
            healthy, report = await status_json(nats_server.url, pipeline.ports)

            # The provider starts refusing the key: one failure opens the breaker.
            fake_llm.script("status:401")
            await post_alert(pipeline.url, {"alertname": "PaymentsLatencyHigh", "severity": "critical"})
            await wait_for_count(js, schemas.ANALYZED, 3, timeout=20)
            broken, broken_report = await status_json(nats_server.url, pipeline.ports)
        finally:
            await nc.close()

    # A dead letter is work to look at, not an outage: every service is up, so exit 0.
    assert healthy.code == 0, report["problems"]
    assert report["healthy"] is True
    assert report["dead_letters"] == 1
    assert report["destinations"]["slack"]["delivered"] == 1
    assert report["destinations"]["slack"]["rejected"] == 1
    assert report["llm"]["breaker"] == "closed"
    assert report["llm"]["requests_since_start"] == {"ok": 2}

    assert broken.code == 1
    assert broken_report["llm"]["breaker"] == "open"
    assert broken_report["llm"]["requests_since_start"]["ok"] == 2
    assert sum(broken_report["llm"]["requests_since_start"].values()) == 3
    assert any("circuit breaker is open" in problem for problem in broken_report["problems"])


async def test_watch_prints_a_report_per_refresh_until_interrupted(nats_server: Any) -> None:
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "services.cli", "status", "--watch", "--json", "--interval", "0.2"),
        cwd=REPO,
        env={**os.environ, "NATS_URL": nats_server.url, **port_env(ports)},
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        reports = [orjson.loads(await asyncio.wait_for(process.stdout.readline(), 30)) for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)

    # Nothing runs but NATS: every refresh says so, and Ctrl-C ends it with the last verdict.
    assert all(not report["healthy"] for report in reports)
    assert all(report["services"]["ingest"]["up"] is False for report in reports)
    assert code == 1


async def test_status_says_at_once_that_nothing_listens_at_nats() -> None:
    port = free_port()
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    run, report = await status_json(f"nats://127.0.0.1:{port}", ports)

    assert run.code == 1
    # Known from the refused connection, not guessed from a connect that ran out of time.
    assert report["problems"][0] == f"NATS: unreachable at 127.0.0.1:{port} (nothing listens there)"


async def test_status_counts_the_wait_for_nats_in_its_answer_time() -> None:
    # A NATS that takes the connection and never speaks: status waits its probe time for it.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    async with server:
        run = await aiops(f"nats://127.0.0.1:{port}", "status", env=port_env(ports))

    assert run.code == 1
    assert f"NATS: unreachable at 127.0.0.1:{port} (no answer within {PROBE_SECONDS:g} s)" in run.stdout
    answered = re.search(r"answered in ([\d.]+) ms", run.stdout)
    assert answered is not None, run.stdout
    assert float(answered[1]) >= PROBE_SECONDS * 1000


HEADERS = ("service", "state", "in/s", "out/s", "lag", "ack pending", "redelivered", "dead letters*")


async def test_status_piped_keeps_whole_headers_however_wide_the_terminal_says_it_is() -> None:
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    run = await aiops(f"nats://127.0.0.1:{free_port()}", "status", env={**port_env(ports), "COLUMNS": "80"})

    header = next(line for line in run.stdout.splitlines() if "service" in line)
    assert all(name in header for name in HEADERS), header
    assert "…" not in run.stdout


async def test_status_on_a_narrow_terminal_wraps_its_headers_and_keeps_the_footnote_mark() -> None:
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    nats_url = f"nats://127.0.0.1:{free_port()}"
    screen = await asyncio.get_running_loop().run_in_executor(
        None, lambda: in_a_terminal(nats_url, "status", columns=70, code=1, env=port_env(ports))
    )

    assert "…" not in screen
    assert "letters*" in screen
