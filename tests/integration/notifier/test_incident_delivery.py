"""Incident events through the notifier's handler: the ledger on a real nats-server, fakes over sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

import schemas
from services.notifier import Destination, Ledger, NotifierMetrics, single_route
from services.notifier._incidents import IncidentNotifier
from services.notifier._slack_bot import SlackSpec
from services.runtime import Reject, RetryLater
from tests.fakes import slack as slack_api
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.integration.notifier.conftest import Clock
from tests.support.incident_story import START, event, node_down

GROWN = {"NodeNotReady": 1, "KubePodNotReady": 30}

Make = Callable[..., tuple[IncidentNotifier, Clock]]


def bot(slack: FakeSlack, channel: str = "#incidents") -> Destination:
    spec = SlackSpec(token=BOT_TOKEN, channel=channel)
    return Destination(name="bot", type="slack", url=slack.api_url, rate_per_second=0, options=spec)


def room(slack: FakeSlack) -> Destination:
    return Destination(name="room", type="slack", url=slack.url, rate_per_second=0)


@pytest.fixture
async def make(ledger: Ledger) -> AsyncIterator[Make]:
    session = aiohttp.ClientSession()

    def build(destination: Destination, update_seconds: float = 300.0) -> tuple[IncidentNotifier, Clock]:
        clock = Clock(START)
        router = single_route([destination], 0.0)
        metrics = NotifierMetrics(CollectorRegistry())
        notifier = IncidentNotifier(
            router, ledger, session, metrics, timeout=5.0, update_seconds=update_seconds, clock=clock
        )
        return notifier, clock

    yield build
    await session.close()


async def test_a_rate_limited_bot_retries_after_slacks_delay_and_posts_once(
    make: Make, slack: FakeSlack
) -> None:
    notifier, _ = make(bot(slack))
    opened = node_down()[0]
    slack.answer(slack_api.api_rate_limited(7))
    with pytest.raises(RetryLater) as retry:
        await notifier.handle(opened)
    assert retry.value.delay == 7
    await notifier.handle(opened)
    await notifier.handle(opened)  # redelivered after it was posted
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.messages) == 1


async def test_an_unknown_channel_is_a_refusal_with_slacks_error(make: Make, slack: FakeSlack) -> None:
    notifier, _ = make(bot(slack, channel="#nowhere"))
    with pytest.raises(Reject, match="channel_not_found"):
        await notifier.handle(node_down()[0])


async def test_an_update_before_the_opening_waits_for_it(make: Make, slack: FakeSlack) -> None:
    notifier, _ = make(bot(slack))
    opened, grown, *_ = node_down()
    with pytest.raises(RetryLater, match="first message"):
        await notifier.handle(grown)
    await notifier.handle(opened)
    await notifier.handle(grown)
    [ts] = slack.messages
    assert len(slack.calls("chat.update")) == 1
    assert len(slack.threads[ts]) == 1


async def test_an_older_event_never_overwrites_a_newer_message(make: Make, slack: FakeSlack) -> None:
    notifier, _ = make(bot(slack))
    opened, grown, worse, _ = node_down()
    for e in (opened, worse, grown):
        await notifier.handle(e)
    [ts] = slack.messages
    assert len(slack.calls("chat.update")) == 1
    assert "🔥 CRITICAL" in str(slack.messages[ts])  # the newest event's severity stays shown


async def test_a_webhook_posts_an_important_update_once_per_interval_and_the_newest_only(
    make: Make, slack: FakeSlack
) -> None:
    notifier, clock = make(room(slack))
    opened = node_down()[0]
    worse = event("updated", 2, GROWN, changes=["members", "severity"], minutes=1)
    more = event("updated", 3, {**GROWN, "TargetDown": 4}, changes=["members"], minutes=2)
    await notifier.handle(opened)
    clock.now = START + timedelta(minutes=1)
    with pytest.raises(RetryLater) as held:
        await notifier.handle(worse)  # severity up, but 60 s after the opening post
    assert held.value.delay == pytest.approx(241, abs=1)
    clock.now = START + timedelta(minutes=2)
    with pytest.raises(RetryLater):
        await notifier.handle(more)  # only new members, yet it carries the held severity change
    clock.now = START + timedelta(minutes=6)
    await notifier.handle(worse)  # back after its delay: superseded by the newer event
    await notifier.handle(more)
    posts = [r.json() for r in slack.received]
    assert len(posts) == 2
    assert "35 alerts" in posts[1]["text"]
    assert "severity raised to critical" not in str(posts[1])  # the newest event's changes are shown


async def test_a_webhook_posts_a_root_that_moved_and_not_one_said_more_precisely(
    make: Make, slack: FakeSlack
) -> None:
    notifier, clock = make(room(slack), update_seconds=60)
    changes: list[schemas.IncidentChange] = ["members", "root", "analysis"]
    refined = event("updated", 2, GROWN, changes=changes, root_refined=True, minutes=2)
    moved = event("updated", 3, GROWN, changes=changes, minutes=4)
    await notifier.handle(node_down()[0])
    clock.now = START + timedelta(minutes=2)
    await notifier.handle(refined)  # the same node's pressure after its NotReady: nothing new to post
    assert len(slack.received) == 1
    clock.now = START + timedelta(minutes=4)
    await notifier.handle(moved)
    posts = [r.json() for r in slack.received]
    assert len(posts) == 2
    assert "root is now" in str(posts[1])


async def test_a_webhook_stays_quiet_about_members_alone(make: Make, slack: FakeSlack) -> None:
    notifier, clock = make(room(slack))
    opened, grown, _, resolved = node_down()
    clock.now = START + timedelta(hours=1)
    for e in (opened, grown, resolved):
        await notifier.handle(e)
    assert [r.json()["text"][:1] for r in slack.received] == ["⚠", "✅"]
