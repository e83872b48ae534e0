"""``aiops dlq`` and ``aiops tail``, and how every command fails when NATS or the stream is missing."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta

import nats
import orjson
import pytest

import schemas
from services.runtime import NatsSettings, ensure_stream
from tests.fakes.slack import NO_SERVICE, FakeSlack
from tests.integration.cli.conftest import REPO, aiops, pipeline, post_webhook
from tests.support.history import analyzed
from tests.support.nats_server import NatsServer, free_port
from tests.support.stream import subject_count, wait_for_count


@pytest.mark.timeout(90)
async def test_dead_letters_are_listed_with_their_error_and_redriven_to_their_subject(
    nats_server: NatsServer, slack: FakeSlack
) -> None:
    # Slack refuses the first post (a revoked webhook, say): the notifier dead-letters it with the answer.
    slack.answer(NO_SERVICE)
    async with pipeline(nats_server.url, slack_webhook_url=slack.url, max_in_flight="1") as ingest:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        try:
            await post_webhook(ingest, "firing_two_alerts.json")
            await slack.wait_for(2, within=30)
            # And a message no stage can read.
            await js.publish(
                schemas.RAW, b'{"schema": 1, "id": ', headers={schemas.MSG_ID_HEADER: "garbage-1"}
            )
            await wait_for_count(js, schemas.DEAD, 2, timeout=20)

            listed = await aiops(nats_server.url, "dlq", "list")
            as_json = await aiops(nats_server.url, "dlq", "list", "--json")
            redrive = await aiops(nats_server.url, "dlq", "redrive", "--stage", "notifier")
            assert "1 dead letter(s) redriven" in redrive.stdout, redrive
            redelivered = (await slack.wait_for(3, within=30))[2]
            await wait_for_count(js, schemas.ANALYZED, 3, timeout=10)
            left = await subject_count(js, schemas.DEAD)
            listed_after = await aiops(nats_server.url, "dlq", "list")
            no_choice = await aiops(nats_server.url, "dlq", "redrive")
        finally:
            await nc.close()

    assert listed.code == 0, listed.stderr
    assert "stage=notifier subject=alerts.analyzed" in listed.stdout
    assert "no_service" in listed.stdout
    assert "stage=enricher subject=alerts.raw" in listed.stdout
    letters = [schemas.decode(line, schemas.DeadLetter) for line in as_json.stdout.splitlines()]
    assert {letter.stage for letter in letters} == {"notifier", "enricher"}
    assert all(isinstance(orjson.loads(line)["seq"], int) for line in as_json.stdout.splitlines())

    # Slack works again: the refused analysis arrives, and only the unreadable message stays dead.
    assert redelivered.reply.status == 200
    refused = slack.received[0].body
    assert redelivered.body == refused
    assert left == 1
    assert "stage=enricher" in listed_after.stdout
    assert "stage=notifier" not in listed_after.stdout
    assert no_choice.code != 0
    assert "give --seq N (repeatable), --stage NAME or --all" in no_choice.stderr


async def test_redrive_says_when_nothing_matches_and_keeps_what_cannot_decode(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_stream(js, NatsSettings(nats_url=nats_server.url))
        garbage = schemas.DeadLetter(
            subject=schemas.RAW,
            stage="enricher",
            error="cannot decode RawAlert: Input data was truncated",
            error_type=schemas.UNDECODABLE,
            attempts=1,
            failed_at=datetime.now(UTC),
            payload='{"schema": 1, "id": ',
        )
        undecodable = (await js.publish(schemas.DEAD, schemas.encode(garbage))).seq
        await js.publish(schemas.DEAD, schemas.encode(_letter("RefusedAlert")))

        unknown_seq = await aiops(nats_server.url, "dlq", "redrive", "--seq", "1234")
        unknown_stage = await aiops(nats_server.url, "dlq", "redrive", "--stage", "bogus")
        named_undecodable = await aiops(nats_server.url, "dlq", "redrive", "--seq", str(undecodable))
        everything = await aiops(nats_server.url, "dlq", "redrive", "--all")
        dead_after_all = await subject_count(js, schemas.DEAD)
        raw_after_all = await subject_count(js, schemas.RAW)
        forced = await aiops(nats_server.url, "dlq", "redrive", "--seq", str(undecodable), "--undecodable")
        dead_after_forced = await subject_count(js, schemas.DEAD)
        raw_after_forced = await subject_count(js, schemas.RAW)
    finally:
        await nc.close()

    assert unknown_seq.code == 1, unknown_seq
    assert unknown_seq.stderr.strip() == "aiops dlq redrive: no dead letter at seq 1234"
    assert unknown_stage.code == 2, unknown_stage
    assert (
        "argument --stage: no stage named 'bogus'; choose one of: enricher, analyst, notifier, incidents"
        in unknown_stage.stderr
    )
    # Named, a letter that cannot succeed resent is kept, with why, and the command fails.
    assert named_undecodable.code == 1, named_undecodable
    assert f"kept seq={undecodable}: the enricher could not decode it" in named_undecodable.stdout
    assert "0 dead letter(s) redriven; 1 undecodable kept" in named_undecodable.stdout
    # --all resends the rest and counts what it kept.
    assert everything.code == 0, everything
    assert "1 dead letter(s) redriven; 1 undecodable kept" in everything.stdout
    assert (dead_after_all, raw_after_all) == (1, 0)
    assert forced.code == 0, forced
    assert "1 dead letter(s) redriven" in forced.stdout
    assert (dead_after_forced, raw_after_forced) == (0, 1)
    for run in (unknown_seq, unknown_stage, named_undecodable):
        assert "Traceback" not in run.stderr


async def test_something_else_on_the_dead_letter_subject_is_shown_not_a_traceback(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_stream(js, NatsSettings(nats_url=nats_server.url))
        junk = (await js.publish(schemas.DEAD, b"hello from a test script")).seq
        await js.publish(schemas.DEAD, schemas.encode(_letter("RefusedAlert")))
        listed = await aiops(nats_server.url, "dlq", "list")
        as_json = await aiops(nats_server.url, "dlq", "list", "--json")
        named = await aiops(nats_server.url, "dlq", "redrive", "--seq", str(junk))
        everything = await aiops(nats_server.url, "dlq", "redrive", "--all")
        left = await subject_count(js, schemas.DEAD)
    finally:
        await nc.close()

    assert listed.code == 0, listed
    assert f"seq={junk} not a dead letter (published by something else?)" in listed.stdout
    assert "RefusedAlert" in listed.stdout  # the real letter after it is still listed
    assert [orjson.loads(line)["seq"] for line in as_json.stdout.splitlines()] == [junk, junk + 1]
    assert named.code == 1, named
    assert f"kept seq={junk}: not a dead letter, nothing to resend" in named.stdout
    assert everything.code == 0, everything
    assert "1 dead letter(s) redriven" in everything.stdout
    assert left == 1  # the junk stays for whoever published it to find
    for run in (listed, as_json, named, everything):
        assert "Traceback" not in run.stderr


async def test_tail_prints_a_readable_analysis_and_the_raw_json(nats_server: NatsServer) -> None:
    async with pipeline(nats_server.url) as ingest:
        ids = await post_webhook(ingest, "firing_two_alerts.json")
        nc = await nats.connect(nats_server.url)
        try:
            await wait_for_count(nc.jetstream(), schemas.ANALYZED, 2, timeout=20)
        finally:
            await nc.close()
        readable = await aiops(nats_server.url, "tail", "-n", "1", "--since", "1h")
        raw = await aiops(nats_server.url, "tail", "-n", "2", "--since", "1h", "--json")

    assert readable.code == 0, readable.stderr
    text = readable.stdout
    name = "HighCPUUsage" if "HighCPUUsage" in text else "DiskSpaceLow"
    assert name in text
    assert "root cause:" in text
    assert "step 1:" in text
    # One analysis, not both.
    assert ("DiskSpaceLow" if name == "HighCPUUsage" else "HighCPUUsage") not in text
    messages = [schemas.decode(line, schemas.AnalyzedAlert) for line in raw.stdout.splitlines()]
    assert {m.id for m in messages} == set(ids)


async def test_tail_and_dlq_list_n_show_the_newest_of_the_window(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_stream(js, NatsSettings(nats_url=nats_server.url))
        for n, name in enumerate(("FirstAlert", "SecondAlert", "ThirdAlert")):
            await js.publish(schemas.ANALYZED, schemas.encode(analyzed(n, alertname=name)))
            await js.publish(schemas.DEAD, schemas.encode(_letter(name)))
        latest = await aiops(nats_server.url, "tail", "--since", "1h", "-n", "1")
        # As replay takes it, a time works as well as a duration.
        an_hour_ago = f"{datetime.now(UTC) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}"
        last_two = await aiops(nats_server.url, "tail", "--since", an_hour_ago, "-n", "2", "--json")
        newest_letter = await aiops(nats_server.url, "dlq", "list", "-n", "1")
        # The window holds three: once they are printed, the fourth is the next to arrive.
        following = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "tail", "--since", "1h", "-n", "4", "--json",
            cwd=REPO, env={**os.environ, "NATS_URL": nats_server.url},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert following.stdout is not None
        try:
            window = [await asyncio.wait_for(following.stdout.readline(), 30) for _ in range(3)]
            await js.publish(schemas.ANALYZED, schemas.encode(analyzed(3, alertname="FourthAlert")))
            rest, _ = await asyncio.wait_for(following.communicate(), 30)
        finally:
            if following.returncode is None:  # it never printed the fourth: not left running
                following.kill()
                await following.wait()
        four = b"".join(window).decode() + rest.decode()
    finally:
        await nc.close()

    assert latest.code == 0, latest.stderr
    assert re.search(r"\bThirdAlert\b", latest.stdout)
    assert not re.search(r"\b(FirstAlert|SecondAlert)\b", latest.stdout)
    names = [orjson.loads(line)["alert"]["labels"]["alertname"] for line in last_two.stdout.splitlines()]
    assert names == ["SecondAlert", "ThirdAlert"]
    assert newest_letter.code == 0, newest_letter.stderr
    assert newest_letter.stdout.splitlines()[0] == "(2 older dead letter(s) not shown; -n 3 shows them)"
    assert re.search(r"\bThirdAlert\b", newest_letter.stdout)
    assert not re.search(r"\b(FirstAlert|SecondAlert)\b", newest_letter.stdout)
    assert following.returncode == 0
    names = [orjson.loads(line)["alert"]["labels"]["alertname"] for line in four.splitlines()]
    assert names == ["FirstAlert", "SecondAlert", "ThirdAlert", "FourthAlert"]


def _letter(alertname: str) -> schemas.DeadLetter:
    return schemas.DeadLetter(
        subject=schemas.ANALYZED,
        stage="notifier",
        error=f"Slack refused {alertname}",
        error_type="destination_rejected",
        attempts=1,
        failed_at=datetime.now(UTC),
        payload="{}",
    )


async def test_commands_say_when_the_stream_is_missing(nats_server: NatsServer) -> None:
    for command in (["dlq", "list"], ["tail", "-n", "1"], ["replay", "--since", "1h"]):
        run = await aiops(nats_server.url, *command)
        assert run.code == 1, run
        assert "stream ALERTS does not exist" in run.stderr
        assert "Traceback" not in run.stderr


async def test_commands_say_when_nats_is_unreachable() -> None:
    port = free_port()
    run = await aiops(f"nats://user:hunter2@127.0.0.1:{port}", "dlq", "list")
    assert run.code == 1
    assert f"cannot reach NATS at 127.0.0.1:{port}" in run.stderr
    # The URL's password is never echoed.
    assert "hunter2" not in run.stderr + run.stdout


async def test_commands_find_nats_on_the_port_aiops_up_was_told(nats_server: NatsServer) -> None:
    # `NATS_PORT=4333 aiops up` (4222 was taken), then the same shell's other commands: NATS_URL unset.
    port = nats_server.url.rsplit(":", 1)[1]
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_stream(nc.jetstream(), NatsSettings(nats_url=nats_server.url))
    finally:
        await nc.close()
    listed = await aiops("", "dlq", "list", env={"NATS_PORT": port})
    status = await aiops("", "status", "--json", env={"NATS_PORT": port})
    assert listed.code == 0, listed
    assert "no dead letters" in listed.stdout
    assert not [p for p in orjson.loads(status.stdout)["problems"] if p.startswith("NATS")], status.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["tail"], "add --since 1h for the last hour's too"),
        (["tail", "--incidents", "--since", "1h"], "only with INCIDENTS_ENABLED=true"),
    ],
)
async def test_tail_says_what_it_waits_for_before_a_quiet_wait(
    nats_server: NatsServer, args: list[str], said: str
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_stream(nc.jetstream(), NatsSettings(nats_url=nats_server.url))
    finally:
        await nc.close()
    following = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", *args,
        cwd=REPO, env={**os.environ, "NATS_URL": nats_server.url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert following.stderr is not None
    try:
        line = (await asyncio.wait_for(following.stderr.readline(), 30)).decode()
    finally:
        following.kill()
        await following.wait()
    assert line.startswith("aiops tail: waiting for new messages on alerts."), line
    assert said in line
