"""Opsgenie against a local Alert API v2, with the ledger on a real NATS: create, dedupe, close, faults."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest
from loguru import logger

import schemas
from services.notifier import Destination, single_route
from services.notifier._probe import probe
from services.runtime import ConfigError, Reject, RetryLater
from tests.fakes import opsgenie as opsgenie_api
from tests.fakes.opsgenie import FakeOpsgenie
from tests.fakes.webhook import Reply
from tests.integration.notifier.conftest import Made, resolved

Make = Callable[..., Made]
Analyzed = schemas.AnalyzedAlert


def to_opsgenie(fake: FakeOpsgenie, key: str | None = None) -> Destination:
    return Destination(
        name="opsgenie", type="opsgenie", url=fake.url, secret=key or fake.key, rate_per_second=0
    )


async def test_an_episode_is_one_alert_closed_when_it_resolves(
    make: Make, opsgenie: FakeOpsgenie, firing: Analyzed
) -> None:
    made = make(single_route([to_opsgenie(opsgenie)], 0))
    await made.notifier.handle(firing)
    await made.notifier.handle(firing)  # redelivered: the ledger keeps it to one post
    await made.notifier.handle(resolved(firing, 600))
    assert [r.reply.status for r in opsgenie.received] == [202, 202]
    [alert] = opsgenie.alerts.values()
    assert alert.status == "closed"
    assert alert.count == 1
    assert alert.body["priority"] == "P1"
    assert alert.notes == ["Resolved after 10m."]
    assert made.count("opsgenie", "duplicate") == 1


async def test_a_refused_key_is_rejected_with_the_answer_and_never_shown(
    make: Make, opsgenie: FakeOpsgenie, firing: Analyzed
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        with pytest.raises(Reject) as caught:
            await make(single_route([to_opsgenie(opsgenie, "wrong-key-4711")], 0)).notifier.handle(firing)
    finally:
        logger.remove(sink)
    assert (
        caught.value.reason
        == 'opsgenie refused the notification: HTTP 401 {"message": "Could not authenticate", "took": 0.01}'
    )
    assert "wrong-key-4711" not in caught.value.reason + "".join(lines)


async def test_throttling_is_retried_after_its_retry_after(
    make: Make, opsgenie: FakeOpsgenie, firing: Analyzed
) -> None:
    made = make(single_route([to_opsgenie(opsgenie)], 0))
    opsgenie.answer(opsgenie_api.THROTTLED)
    with pytest.raises(RetryLater) as caught:
        await made.notifier.handle(firing)
    assert caught.value.delay == 9
    await made.notifier.handle(firing)
    assert [r.reply.status for r in opsgenie.received] == [429, 202]


@pytest.mark.parametrize("reply", [opsgenie_api.SERVER_ERROR, Reply(hang=True)], ids=["503", "slow"])
async def test_server_errors_and_slow_answers_are_retried(
    make: Make, opsgenie: FakeOpsgenie, firing: Analyzed, reply: Reply
) -> None:
    made = make(single_route([to_opsgenie(opsgenie)], 0), timeout=0.3)
    opsgenie.answer(reply)
    with pytest.raises(RetryLater):
        await made.notifier.handle(firing)
    await made.notifier.handle(firing)
    assert len(opsgenie.alerts) == 1
    assert made.count("opsgenie", "retry") == 1


async def test_closing_an_unknown_alert_is_dead_lettered(
    make: Make, opsgenie: FakeOpsgenie, firing: Analyzed
) -> None:
    made = make(single_route([to_opsgenie(opsgenie)], 0))
    with pytest.raises(Reject) as caught:
        await made.notifier.handle(resolved(firing, 60))
    assert "HTTP 404" in caught.value.reason
    assert opsgenie.received[0].path.endswith("/close")
    assert opsgenie.received[0].query == "identifierType=alias"


async def test_start_up_refuses_a_key_opsgenie_does_not_know(opsgenie: FakeOpsgenie) -> None:
    async with aiohttp.ClientSession() as session:
        await probe(session, [to_opsgenie(opsgenie)], 5)
        with pytest.raises(
            ConfigError, match=r"Opsgenie refused the key \(HTTP 401\); check api_key"
        ) as caught:
            await probe(session, [to_opsgenie(opsgenie, "unknown-key-5150")], 5)
    assert "unknown-key-5150" not in str(caught.value)
