"""Jira against a local REST API (Cloud v3 and Data Center v2), with the ledger on a real NATS."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import msgspec
import pytest
from loguru import logger

import schemas
from services.notifier import Router, parse_routes
from services.notifier._probe import probe
from services.runtime import ConfigError, Reject, RetryLater
from tests.fakes import jira as jira_api
from tests.fakes.jira import FakeJira
from tests.fakes.webhook import Reply
from tests.integration.notifier.conftest import Made, resolved

Make = Callable[..., Made]
Analyzed = schemas.AnalyzedAlert


def routes(fake: FakeJira, token: str | None = None, **options: str) -> Router:
    extra = "".join(f", {key}: {value}" for key, value in options.items())
    text = (
        "destinations:\n"
        f"  tickets: {{type: jira, url: '{fake.url}', email: bot@example.org, token: '${{JIRA_TOKEN}}',"
        f" project: OPS, labels: [aiops, oncall], rate_per_second: 0{extra}}}\n"
        "default: {to: [tickets]}\n"
    )
    return parse_routes(text, environ={"JIRA_TOKEN": token or fake.token})


def recategorised(message: Analyzed, category: str) -> Analyzed:
    return msgspec.structs.replace(
        message, analysis=msgspec.structs.replace(message.analysis, category=category)
    )


async def test_one_issue_per_episode_a_comment_on_a_new_analysis_and_done_on_resolve(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira))
    await made.notifier.handle(firing)
    await made.notifier.handle(firing)  # redelivered: no second issue
    await made.notifier.handle(recategorised(firing, "deployment_regression"))
    await made.notifier.handle(recategorised(firing, "deployment_regression"))
    await made.notifier.handle(resolved(firing, 600))
    await made.notifier.handle(resolved(firing, 600))
    [issue] = jira.issues.values()
    assert issue.fields["labels"] == ["aiops", "oncall"]
    assert issue.fields["issuetype"] == {"name": "Task"}
    assert issue.fields["summary"].startswith("[CRITICAL] KubePodCrashLooping: payments-api is crash-looping")
    assert len(issue.comments) == 1
    assert "category memory_pressure → deployment_regression" in str(issue.comments[0])
    assert issue.status == "Done"
    assert made.count("tickets", "duplicate") == 3


async def test_data_center_gets_plain_text_with_a_bearer_token(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira, api="datacenter"))
    await made.notifier.handle(firing)
    await made.notifier.handle(resolved(firing, 60))
    [issue] = jira.issues.values()
    assert (
        "Root cause (memory_pressure, 82% confidence): The container is OOM-killed"
        in issue.fields["description"]
    )
    assert issue.status == "Done"
    assert all(r.headers["Authorization"] == f"Bearer {jira.token}" for r in jira.received)
    assert all(r.path.startswith("/rest/api/2/") for r in jira.received)


async def test_a_refused_token_is_dead_lettered_without_showing_it(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        with pytest.raises(Reject) as caught:
            await make(routes(jira, token="not-the-token-0815")).notifier.handle(firing)
    finally:
        logger.remove(sink)
    assert caught.value.reason == "tickets refused the notification: HTTP 401"
    assert "not-the-token-0815" not in caught.value.reason + "".join(lines)
    assert jira.issues == {}


async def test_a_bad_issue_type_is_dead_lettered_with_jiras_errors(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    with pytest.raises(Reject) as caught:
        await make(routes(jira, issue_type="Epicc")).notifier.handle(firing)
    assert '"issuetype": "Specify a valid issue type"' in caught.value.reason


async def test_throttling_is_retried_after_its_retry_after(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira))
    jira.answer(jira_api.THROTTLED)
    with pytest.raises(RetryLater) as caught:
        await made.notifier.handle(firing)
    assert caught.value.delay == 11
    await made.notifier.handle(firing)
    assert len(jira.issues) == 1


@pytest.mark.parametrize("reply", [jira_api.SERVER_ERROR, Reply(hang=True)], ids=["503", "slow"])
async def test_server_errors_and_slow_answers_are_retried(
    make: Make, jira: FakeJira, firing: Analyzed, reply: Reply
) -> None:
    # 1 s, not less: the scripted reply goes to whichever request reaches Jira first, and a stall of
    # the machine longer than the timeout let the first attempt give up before sending, leaving the
    # hang to the retry (seen once in a full run with 0.3 s).
    made = make(routes(jira), timeout=1.0)
    await made.notifier.handle(firing)
    jira.answer(reply)
    with pytest.raises(RetryLater):
        await made.notifier.handle(resolved(firing, 60))
    assert not jira.script, "the first attempt was answered with the error or the hang"
    await made.notifier.handle(resolved(firing, 60))
    [issue] = jira.issues.values()
    assert issue.status == "Done"


async def test_an_issue_closed_by_hand_is_left_alone_on_resolve(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira))
    await made.notifier.handle(firing)
    [issue] = jira.issues.values()
    issue.status = "Done"
    await made.notifier.handle(resolved(firing, 60))
    assert made.count("tickets", "skipped") == 1
    assert issue.status == "Done"


async def test_a_missing_transition_is_dead_lettered_naming_the_setting(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira, resolve_transition="Close Issue"))
    await made.notifier.handle(firing)
    with pytest.raises(Reject) as caught:
        await made.notifier.handle(resolved(firing, 60))
    assert "OPS-1 offers no transition named 'Close Issue' (resolve_transition)" in caught.value.reason
    assert "Start Progress, Done" in caught.value.reason


async def test_start_up_refuses_an_unknown_project_or_a_refused_token(jira: FakeJira) -> None:
    async with aiohttp.ClientSession() as session:
        await probe(session, routes(jira).destinations, 5)
        with pytest.raises(ConfigError, match=r"Jira has no project 'NOPE' \(project\)"):
            await probe(session, routes(jira, project="NOPE").destinations, 5)
        with pytest.raises(ConfigError, match=r"refused the credentials \(HTTP 401\); check token") as caught:
            await probe(session, routes(jira, token="wrong-token-1234").destinations, 5)
    assert "wrong-token-1234" not in str(caught.value)


async def test_start_up_only_warns_when_jira_does_not_answer(jira: FakeJira) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    jira.answer(jira_api.SERVER_ERROR)
    try:
        async with aiohttp.ClientSession() as session:
            await probe(session, routes(jira).destinations, 5)
    finally:
        logger.remove(sink)
    assert "tickets: Jira did not confirm project OPS at start-up (HTTP 503" in "".join(lines)


async def test_an_unreadable_answer_is_retried_not_a_crash(
    make: Make, jira: FakeJira, firing: Analyzed
) -> None:
    made = make(routes(jira))
    await made.notifier.handle(firing)
    jira.answer(Reply(200, "<html>Sign in to continue</html>", content_type="text/html"))
    with pytest.raises(RetryLater) as caught:
        await made.notifier.handle(resolved(firing, 60))
    assert "tickets: Jira's answer was not the JSON it documents" in caught.value.reason
    await made.notifier.handle(resolved(firing, 60))
    assert jira.issues["OPS-1"].status == "Done"
