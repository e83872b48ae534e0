"""One message per incident, through the running notifier on a real nats-server and fakes over sockets.

A node goes down (opened), its pods and targets join (updated), severity rises (updated), it comes
back (resolved): a Slack bot posts one message and edits it, threading what changed; an incoming
webhook cannot edit and gets the opening, the change a person needs and the resolution; PagerDuty
one incident; a generic webhook every event, signed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

import schemas
from services.notifier import SPEC, NotifierSettings, signature
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import BOT_TOKEN, CHANNEL_ID, FakeSlack
from tests.fakes.webhook import FakeWebhook
from tests.integration.notifier.conftest import load_firing
from tests.support.incident_story import node_down
from tests.support.nats_server import NatsServer
from tests.support.processes import metric_at
from tests.support.services import running_stage, settings_for
from tests.support.stream import caught_up

ROUTING_KEY = "r" * 32
SECRET = "incident-hook-secret"


def routes(path: Path, slack: FakeSlack, pagerduty: FakePagerDuty, webhook: FakeWebhook) -> str:
    path.write_text(
        "destinations:\n"
        f"  bot: {{type: slack, url: '{slack.api_url}', token: '{BOT_TOKEN}', channel: '#incidents'}}\n"
        f"  room: {{type: slack, url: '{slack.url}', rate_per_second: 0}}\n"
        f"  pager: {{type: pagerduty, url: '{pagerduty.url}', routing_key: '{ROUTING_KEY}'}}\n"
        f"  hook: {{type: webhook, url: '{webhook.url}', secret: '{SECRET}'}}\n"
        "default: {to: [bot, room, pager, hook]}\n"
    )
    return str(path)


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc: Client = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def publish(js: JetStreamContext, event: schemas.IncidentEvent, *, msg_id: bool = True) -> None:
    headers = {"Nats-Msg-Id": event.id} if msg_id else None
    await js.publish(schemas.incident_subject(event.event), schemas.encode(event), headers=headers)
    await caught_up(js, "notifier-incidents")


def hook_posts(slack: FakeSlack) -> list[dict[str, object]]:
    return [r.json() for r in slack.received if r.path == "/hook"]


async def test_an_incident_is_one_message_edited_in_place_and_one_pagerduty_incident(
    nats_server: NatsServer,
    js: JetStreamContext,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    webhook: FakeWebhook,
    tmp_path: Path,
) -> None:
    settings = settings_for(
        NotifierSettings,
        nats_server.url,
        routes_file=routes(tmp_path / "routes.yaml", slack, pagerduty, webhook),
        # Every change a person needs is posted at once here; the interval has its own test.
        notify_incident_update_seconds=0,
    )
    story = node_down()
    async with running_stage(SPEC, settings):
        for event in story:
            await publish(js, event)
        before = len(slack.received), len(pagerduty.received), len(webhook.received)
        await publish(js, story[1], msg_id=False)  # the same event again: the ledger has it
        after = len(slack.received), len(pagerduty.received), len(webhook.received)

    assert after == before
    [opened] = slack.calls("chat.postMessage")[:1]
    assert len([c for c in slack.calls("chat.postMessage") if "thread_ts" not in c]) == 1
    [ts] = slack.messages
    updates = slack.calls("chat.update")
    assert [u["ts"] for u in updates] == [ts, ts, ts]
    assert {u["channel"] for u in updates} == {CHANNEL_ID}
    assert opened["attachments"][0]["color"] == "#ECB22E"  # warning when it opened
    assert slack.messages[ts]["attachments"][0]["color"] == "#2EB67D"  # edited to resolved
    replies = [r["text"] for r in slack.threads[ts]]
    assert len(replies) == 3
    assert "*34 new alerts* (37 in all)" in replies[0]
    assert "KubePodNotReady: 28" in replies[0]
    assert "severity raised to critical" in replies[1]
    assert "KubePodNotReady: 4" in replies[1]
    assert replies[2].startswith("✅ *Resolved* after 12m")

    # The incoming webhook: the opening, the severity change (the new members alone are not worth a post),
    # the resolution.
    texts = [str(p["text"]) for p in hook_posts(slack)]
    assert len(texts) == 3
    assert texts[0].startswith("⚠️ [WARNING] NodeNotReady on ip-10-0-1-7")
    assert texts[1].startswith("🔥 [CRITICAL]")
    assert texts[2].startswith("✅ RESOLVED")

    events = [r.json() for r in pagerduty.received]
    assert {e["dedup_key"] for e in events} == {"inc-0123456789ab"}
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "trigger", "resolve"]

    assert [schemas.decode(r.body, schemas.IncidentEvent) for r in webhook.received] == story
    first = webhook.received[0]
    stamp = int(first.headers["X-Aiops-Timestamp"])
    assert first.headers["X-Aiops-Signature"] == signature(SECRET, stamp, first.body)
    assert first.headers["X-Aiops-Incident-Id"] == "inc-0123456789ab"


async def test_alerts_of_an_incident_are_not_posted_on_their_own(
    nats_server: NatsServer, js: JetStreamContext, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = settings_for(
        NotifierSettings,
        nats_server.url,
        slack_bot_token=BOT_TOKEN,
        slack_channel="#incidents",
        slack_api_url=slack.api_url,
    )
    alone = load_firing()
    grouped = msgspec.structs.replace(
        alone,
        id="grouped-1",
        incident=schemas.IncidentRef(id="inc-0123456789ab", role="caused", signals=["node"]),
    )
    async with running_stage(SPEC, settings) as port:
        for message in (grouped, alone):
            await js.publish(schemas.ANALYZED, schemas.encode(message))
        await caught_up(js, "notifier")
        counted = await metric_at(
            f"http://127.0.0.1:{port}", "aiops_notifications_total", destination="-", outcome="grouped"
        )

    [posted] = slack.calls("chat.postMessage")
    assert "KubePodCrashLooping" in json.dumps(posted)
    assert posted["channel"] == "#incidents"
    assert len(slack.received) == 1
    assert counted == 1.0


async def test_a_route_added_later_posts_new_incidents_not_those_of_before(
    nats_server: NatsServer, js: JetStreamContext, webhook: FakeWebhook, tmp_path: Path
) -> None:
    # A notifier with no route for incidents reads their events and lets them go: nothing waits
    # behind its consumer, so the operator who adds a webhook a week later is not sent the week.
    before = node_down("inc-before000000")
    async with running_stage(SPEC, settings_for(NotifierSettings, nats_server.url)):
        for event in before:
            await publish(js, event)  # waits for notifier-incidents to have acked it
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        f"destinations:\n  hook: {{type: webhook, url: '{webhook.url}'}}\ndefault: {{to: [hook]}}\n"
    )
    settings = settings_for(NotifierSettings, nats_server.url, routes_file=str(routes))
    after = node_down("inc-after0000000")[0]
    async with running_stage(SPEC, settings):
        await publish(js, after)

    assert [schemas.decode(r.body, schemas.IncidentEvent) for r in webhook.received] == [after]
