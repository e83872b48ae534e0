"""Progress of ``aiops replay`` and ``aiops dlq redrive``: plain lines in a pipe, a rich bar on a terminal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import nats
from nats.aio.client import Client

import schemas
from services.runtime import NatsSettings, ensure_stream
from tests.integration.cli.conftest import aiops, in_a_terminal
from tests.support.nats_server import NatsServer
from tests.support.stream import subject_count

ANSI_ESCAPE = "\x1b["


async def _store_alerts(nc: Client, count: int) -> None:
    js = nc.jetstream()
    await ensure_stream(js, NatsSettings())
    for index in range(count):
        alert = schemas.Alert(
            status="firing", labels={"alertname": f"Sample{index}"}, starts_at=datetime.now(UTC)
        )
        message = schemas.RawAlert(id=schemas.alert_id(alert), alert=alert, received_at=datetime.now(UTC))
        await js.publish(schemas.RAW, schemas.encode(message), headers={schemas.MSG_ID_HEADER: message.id})


async def _store_dead_letters(nc: Client, count: int) -> None:
    js = nc.jetstream()
    for index in range(count):
        letter = schemas.DeadLetter(
            subject=schemas.ANALYZED,
            stage="notifier",
            error="slack refused the notification: HTTP 404 no_service",
            error_type="destination_rejected",
            attempts=1,
            failed_at=datetime.now(UTC),
            payload=f'{{"id": "letter-{index}"}}',
        )
        await js.publish(schemas.DEAD, schemas.encode(letter))


async def test_replay_and_redrive_print_plain_progress_lines_when_not_on_a_terminal(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await _store_alerts(nc, 3)
        await _store_dead_letters(nc, 2)
        every_message = {"AIOPS_PROGRESS_SECONDS": "0"}
        replayed = await aiops(nats_server.url, "replay", "--since", "1h", env=every_message)
        redriven = await aiops(nats_server.url, "dlq", "redrive", "--all", env=every_message)
        left = await subject_count(nc.jetstream(), schemas.DEAD)
    finally:
        await nc.close()

    assert replayed.code == 0, replayed.stderr
    lines = replayed.stdout.splitlines()
    assert lines[0] == "replay: 3 message(s) to go through"
    progress = [line for line in lines if line.startswith("replay: ") and "/s" in line]
    assert [line.split()[1] for line in progress] == ["1/3", "2/3", "3/3"]
    assert progress[-1].startswith("replay: 3/3 (100%)")
    assert "replay: 1/3 (33%)" in progress[0]
    assert "ETA" in progress[0]
    assert sum(line.startswith("replayed ") for line in lines) == 3
    assert ANSI_ESCAPE not in replayed.stdout

    assert redriven.code == 0, redriven.stderr
    assert "redrive: 2 message(s) to go through" in redriven.stdout
    assert "redrive: 2/2 (100%)" in redriven.stdout
    assert "2 dead letter(s) redriven" in redriven.stdout
    assert left == 0


async def test_replay_draws_a_progress_bar_on_a_terminal(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await _store_alerts(nc, 4)
    finally:
        await nc.close()

    screen = await asyncio.get_running_loop().run_in_executor(
        None, in_a_terminal, nats_server.url, "replay", "--since", "1h"
    )

    assert ANSI_ESCAPE in screen  # drawn and redrawn in place
    assert "━" in screen  # rich's bar
    assert "4/4" in screen
    assert "ETA" in screen
    # The bar says how far it got: no line per replayed alert, and no plain progress lines.
    assert "replayed " not in screen.replace("4 alert(s) replayed as", "")
    assert "message(s) to go through" not in screen
    assert "4 alert(s) replayed as" in screen
