"""The notifier as a running stage on a real nats-server: dead letters, and a kill before the ack."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import nats
import pytest
from nats.js.kv import KeyValue

import schemas
from services.notifier import SPEC, NotifierSettings
from services.runtime import provision
from tests.fakes import slack as slack_api
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import FakeWebhook, Reply
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage, settings_for
from tests.support.stream import read_subject

REPO = Path(__file__).resolve().parents[3]


async def recorded_key(watcher: KeyValue.KeyWatcher, key: str) -> None:
    """Wait until the ledger records ``key``: the destination accepted and the record is durable."""
    async with asyncio.timeout(10):
        while True:
            update = await watcher.updates(timeout=10)  # type: ignore[no-untyped-call]
            if update is not None and update.key == key:
                return


async def test_a_refused_notification_lands_on_alerts_dead_with_the_answer(
    nats_server: NatsServer, slack: FakeSlack, firing: schemas.AnalyzedAlert
) -> None:
    slack.answer(slack_api.NO_SERVICE)
    settings = settings_for(NotifierSettings, nats_server.url, slack_webhook_url=slack.url)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with running_stage(SPEC, settings):
            await js.publish(schemas.ANALYZED, schemas.encode(firing))
            [letter] = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1)
    finally:
        await nc.close()
    assert letter.stage == "notifier"
    assert letter.error == "slack refused the notification: HTTP 404 no_service"
    assert letter.error_type == "destination_rejected"
    assert schemas.decode(letter.payload, schemas.AnalyzedAlert) == firing
    assert slack.url not in letter.payload


@pytest.mark.faults
async def test_killed_before_ack_is_posted_once_per_destination(
    nats_server: NatsServer,
    slack: FakeSlack,
    webhook: FakeWebhook,
    firing: schemas.AnalyzedAlert,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "SLACK_WEBHOOK_URL": slack.url,
        "GENERIC_WEBHOOK_URL": webhook.url,
        "HEALTH_PORT": "0",
        "ACK_WAIT_SECONDS": "2",
        "NOTIFY_TIMEOUT_SECONDS": "60",
    }
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await provision(js, settings_for(NotifierSettings, nats_server.url, ack_wait_seconds=2))
    kv = await js.create_key_value(bucket="aiops-deliveries")
    recorded = await kv.watch("delivered.>")
    await js.publish(schemas.ANALYZED, schemas.encode(firing))

    async def notifier(log: str) -> asyncio.subprocess.Process:
        with (tmp_path / log).open("w") as out:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.notifier", env=env, cwd=REPO, stdout=out, stderr=out
            )

    # Slack accepts at once; the webhook holds the post open, so the message is never acked.
    webhook.answer(Reply(hang=True))
    first = await notifier("first.log")
    try:
        await slack.wait_for(1, within=20)
        await webhook.wait_for(1, within=20)
        await recorded_key(recorded, f"delivered.{firing.id}.slack")
    finally:
        first.kill()
        await first.wait()
    webhook.released.set()

    second = await notifier("second.log")
    try:
        await webhook.wait_for(2, within=20)
        await recorded_key(recorded, f"delivered.{firing.id}.webhook")
    finally:
        second.terminate()
        await second.wait()
        await nc.close()
    assert len(slack.received) == 1, (tmp_path / "second.log").read_text()
    assert [r.reply.status for r in webhook.received] == [200, 200]
    assert webhook.received[0].reply.hang


def jira_routes(path: Path, url: str, project: str, issue_type: str = "Task") -> str:
    path.write_text(
        "destinations:\n"
        f"  tickets: {{type: jira, url: '{url}', email: bot@example.org, token: '${{JIRA_TOKEN}}',"
        f" project: {project}, issue_type: {issue_type}}}\n"
        "default: {to: [tickets]}\n"
    )
    return str(path)


async def notifier_exit(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.notifier",
        env={**os.environ, "HEALTH_PORT": "0", **env},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def test_a_misconfigured_destination_stops_the_service_naming_the_setting(
    nats_server: NatsServer, jira: FakeJira, tmp_path: Path
) -> None:
    bad_url = {"OPSGENIE_API_KEY": "genie-secret-42", "OPSGENIE_URL": "https://api.opsgenie.com/v2/alerts"}
    code, output = await notifier_exit(bad_url)
    assert code == 2
    assert "(OPSGENIE_URL)" in output
    routes = jira_routes(tmp_path / "routes.yaml", jira.url, "NOPE")
    code, output = await notifier_exit(
        {"NATS_URL": nats_server.url, "ROUTES_FILE": routes, "JIRA_TOKEN": jira.token}
    )
    assert code == 2, output
    assert "configuration error: destination 'tickets': Jira has no project 'NOPE' (project)" in output
    routes = jira_routes(tmp_path / "routes.yaml", jira.url, "OPS")
    code, output = await notifier_exit(
        {"NATS_URL": nats_server.url, "ROUTES_FILE": routes, "JIRA_TOKEN": "refused-token-99"}
    )
    assert "refused the credentials (HTTP 401); check token and email" in output
    for secret in ("genie-secret-42", "refused-token-99"):
        assert secret not in output


async def test_a_refused_issue_is_dead_lettered_with_jiras_answer_and_no_token(
    nats_server: NatsServer,
    jira: FakeJira,
    firing: schemas.AnalyzedAlert,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    routes = jira_routes(tmp_path / "routes.yaml", jira.url, "OPS", issue_type="Story")
    monkeypatch.setenv("JIRA_TOKEN", jira.token)
    settings = settings_for(NotifierSettings, nats_server.url, routes_file=routes)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        async with running_stage(SPEC, settings):
            await js.publish(schemas.ANALYZED, schemas.encode(firing))
            [letter] = await read_subject(js, schemas.DEAD, schemas.DeadLetter, count=1)
    finally:
        await nc.close()
    assert letter.error.startswith("tickets refused the notification: HTTP 400 ")
    assert '"issuetype": "Specify a valid issue type"' in letter.error
    assert letter.error_type == "destination_rejected"
    assert jira.token not in schemas.encode(letter).decode()
