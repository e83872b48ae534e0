"""Delivery against local Slack, webhook, PagerDuty and Teams servers, with the ledger on a real NATS."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest
from loguru import logger

import schemas
from services.notifier import Destination, single_route
from services.runtime import Reject, RetryLater
from tests.fakes import slack as slack_api
from tests.fakes import teams as teams_api
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.fakes.webhook import FakeWebhook, Reply
from tests.integration.notifier.conftest import Made, resolved

Make = Callable[..., Made]
Analyzed = schemas.AnalyzedAlert


def to_slack(fake: FakeSlack, **options: object) -> Destination:
    # Unpaced unless a test is about pacing: Slack's 1/s would only slow the suite down.
    options.setdefault("rate_per_second", 0.0)
    return Destination(name="slack", type="slack", url=fake.url, **options)  # type: ignore[arg-type]


async def test_posted_once_even_when_redelivered(make: Make, slack: FakeSlack, firing: Analyzed) -> None:
    made = make(single_route([to_slack(slack)], 0))
    await made.notifier.handle(firing)
    await made.notifier.handle(firing)
    assert len(slack.received) == 1
    assert slack.received[0].reply == slack_api.OK
    assert made.count("slack", "delivered") == 1
    assert made.count("slack", "duplicate") == 1


async def test_rate_limited_slack_is_retried_after_its_retry_after(
    make: Make, slack: FakeSlack, firing: Analyzed
) -> None:
    made = make(single_route([to_slack(slack)], 0))
    slack.answer(slack_api.rate_limited(7))
    with pytest.raises(RetryLater) as caught:
        await made.notifier.handle(firing)
    assert caught.value.delay == 7
    await made.notifier.handle(firing)
    assert [r.reply.status for r in slack.received] == [429, 200]


@pytest.mark.parametrize("reply", [slack_api.SERVER_ERROR, Reply(hang=True)], ids=["500", "timeout"])
async def test_server_errors_and_timeouts_are_retried(
    make: Make, slack: FakeSlack, firing: Analyzed, reply: Reply
) -> None:
    made = make(single_route([to_slack(slack)], 0), timeout=0.3)
    slack.answer(reply)
    with pytest.raises(RetryLater) as caught:
        await made.notifier.handle(firing)
    assert "slack: " in caught.value.reason
    assert made.count("slack", "retry") == 1


async def test_a_refused_payload_is_rejected_with_slacks_answer(
    make: Make, slack: FakeSlack, firing: Analyzed
) -> None:
    made = make(single_route([to_slack(slack)], 0))
    slack.answer(slack_api.INVALID_PAYLOAD)
    with pytest.raises(Reject) as caught:
        await made.notifier.handle(firing)
    assert caught.value.reason == "slack refused the notification: HTTP 400 invalid_payload"
    assert slack.url not in caught.value.reason


async def test_a_retry_for_one_destination_does_not_repeat_the_others(
    make: Make, slack: FakeSlack, webhook: FakeWebhook, firing: Analyzed
) -> None:
    hook = Destination(name="webhook", type="webhook", url=webhook.url, secret="k")
    made = make(single_route([to_slack(slack), hook], 0))
    slack.answer(slack_api.SERVER_ERROR)
    with pytest.raises(RetryLater):
        await made.notifier.handle(firing)
    await made.notifier.handle(firing)
    assert len(webhook.received) == 1
    assert [r.reply.status for r in slack.received] == [500, 200]


async def test_webhook_post_is_signed_and_verifiable(
    make: Make, webhook: FakeWebhook, firing: Analyzed
) -> None:
    made = make(single_route([Destination(name="audit", type="webhook", url=webhook.url, secret="k3y")], 0))
    await made.notifier.handle(firing)
    post = webhook.received[0]
    timestamp = post.headers["X-Aiops-Timestamp"]
    mac = hmac.new(b"k3y", timestamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Aiops-Signature"] == f"v1={mac}"
    assert abs(int(timestamp) - datetime.now(UTC).timestamp()) < 5
    assert schemas.decode(post.body, schemas.AnalyzedAlert) == firing


async def test_pagerduty_triggers_then_resolves(
    make: Make, pagerduty: FakePagerDuty, firing: Analyzed
) -> None:
    pd = Destination(name="pagerduty", type="pagerduty", url=pagerduty.url, secret="0" * 32)
    made = make(single_route([pd], 0))
    await made.notifier.handle(firing)
    await made.notifier.handle(resolved(firing, 600))
    events = [r.json() for r in pagerduty.received]
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert [r.reply.status for r in pagerduty.received] == [202, 202]
    assert events[0]["dedup_key"] == events[1]["dedup_key"] == firing.alert.fingerprint


async def test_pagerduty_refusal_names_its_errors(
    make: Make, pagerduty: FakePagerDuty, firing: Analyzed
) -> None:
    pd = Destination(name="pagerduty", type="pagerduty", url=pagerduty.url, secret="too-short")
    with pytest.raises(Reject) as caught:
        await make(single_route([pd], 0)).notifier.handle(firing)
    assert "Length of 'routing_key' is incorrect" in caught.value.reason
    assert "too-short" not in caught.value.reason


async def test_teams_accepts_the_card_and_throttling_inside_a_200_is_retried(
    make: Make, teams: FakeTeams, firing: Analyzed
) -> None:
    made = make(single_route([Destination(name="teams", type="teams", url=teams.url, rate_per_second=0)], 0))
    teams.answer(teams_api.THROTTLED_IN_200)
    with pytest.raises(RetryLater):
        await made.notifier.handle(firing)
    await made.notifier.handle(firing)
    assert teams.received[-1].reply == teams_api.ACCEPTED
    assert made.count("teams", "delivered") == 1


async def test_resolved_follow_up_respects_send_resolved(
    make: Make, slack: FakeSlack, webhook: FakeWebhook, firing: Analyzed
) -> None:
    quiet = Destination(name="webhook", type="webhook", url=webhook.url, send_resolved=False)
    made = make(single_route([to_slack(slack), quiet], 0))
    await made.notifier.handle(resolved(firing, 750))
    assert webhook.received == []
    assert "resolved after *12m 30s*" in slack.received[0].body.decode()


async def test_flapping_alert_is_never_announced(make: Make, slack: FakeSlack, firing: Analyzed) -> None:
    made = make(single_route([to_slack(slack)], 120))
    made.clock.at(firing, 20)
    with pytest.raises(RetryLater) as held:
        await made.notifier.handle(firing)
    assert held.value.delay == pytest.approx(101)
    made.clock.at(firing, 45)
    await made.notifier.handle(resolved(firing, 40))
    made.clock.at(firing, 125)
    await made.notifier.handle(firing)
    assert slack.received == []
    assert made.count("slack", "suppressed_flapping") == 2


async def test_lasting_alert_is_announced_after_the_quiet_period_and_so_is_its_end(
    make: Make, slack: FakeSlack, firing: Analyzed
) -> None:
    made = make(single_route([to_slack(slack)], 120))
    made.clock.at(firing, 130)
    await made.notifier.handle(firing)
    # Resolved inside the quiet period of a message already announced: the end is announced too.
    await made.notifier.handle(resolved(firing, 110))
    assert ["FIRING" in r.body.decode() for r in slack.received] == [True, False]


async def test_replays_are_quiet_unless_they_ask(make: Make, slack: FakeSlack, firing: Analyzed) -> None:
    made = make(single_route([to_slack(slack)], 0))
    await made.notifier.handle(firing)
    now = datetime.now(UTC)
    await made.notifier.handle(
        msgspec.structs.replace(firing, replay=schemas.Replay(id="r1", requested_at=now))
    )
    assert len(slack.received) == 1
    loud = schemas.Replay(id="r2", requested_at=now, notify=True)
    await made.notifier.handle(msgspec.structs.replace(firing, replay=loud))
    assert len(slack.received) == 2


async def test_without_destinations_the_analysis_is_logged(make: Make, firing: Analyzed) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        await make(single_route([], 0)).notifier.handle(firing)
    finally:
        logger.remove(sink)
    text = "".join(lines)
    assert "no destination configured" in text
    assert "root cause: The container is OOM-killed" in text


async def test_slack_is_paced_per_webhook(make: Make, slack: FakeSlack, firing: Analyzed) -> None:
    made = make(single_route([to_slack(slack, rate_per_second=10.0)], 0))
    messages = [
        msgspec.structs.replace(
            firing, id=f"alert-{i}", alert=msgspec.structs.replace(firing.alert, fingerprint=str(i))
        )
        for i in range(4)
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(made.notifier.handle(m) for m in messages))
    assert len(slack.received) == 4
    assert loop.time() - started >= 0.3
