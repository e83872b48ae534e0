"""The continuous pull against a real nats-server: idle stages stay awake, stopping hands work back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import nats
import pytest
from nats.aio.client import Client

import schemas
from services.runtime import StageSettings, provision
from services.runtime._pull import ContinuousPull
from tests.support.nats_server import NatsServer
from tests.support.services import settings_for


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    await provision(client.jetstream(), settings_for(StageSettings, nats_server.url))
    yield client
    await client.close()


async def publish(nc: Client, count: int, prefix: str) -> None:
    js = nc.jetstream()
    for n in range(count):
        await js.publish(schemas.RAW, b"{}", headers={schemas.MSG_ID_HEADER: f"{prefix}-{n}"})


async def take(pull: ContinuousPull, count: int, timeout: float) -> list[Any]:
    """What the pull delivers, as a stage's loop takes it, until ``count`` or the timeout."""
    taken: list[Any] = []
    async with asyncio.timeout(timeout):
        while len(taken) < count:
            await pull.top_up(held=len(taken))
            taken += pull.take()
            if len(taken) < count:
                await pull.wait(held=len(taken))
    return taken


async def test_an_idle_stage_still_receives_after_its_requests_expired(nc: Client) -> None:
    pull = ContinuousPull(nc, schemas.STREAM, "enricher", capacity=8, expires_seconds=0.3)
    await pull.start()
    await pull.top_up(held=0)
    # Several request lifetimes pass with nothing to deliver; each expiry is answered and renewed.
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        await pull.wait(held=0)
        await pull.top_up(held=0)
    await publish(nc, 3, "late")
    started = time.monotonic()
    taken = await take(pull, 3, timeout=5)
    assert len(taken) == 3
    assert time.monotonic() - started < 1.0  # delivered as stored, not on the next renewal
    await pull.close()


async def test_messages_not_started_go_to_another_replica_at_once_when_a_stage_stops(nc: Client) -> None:
    first = ContinuousPull(nc, schemas.STREAM, "enricher", capacity=16)
    await first.start()
    await publish(nc, 5, "handed-back")
    async with asyncio.timeout(5):
        while len(first.arrived) < 5:  # as a stage's loop asks: again when a request expired unanswered
            await first.top_up(held=0)
            await first.wait(held=0)
    await first.close()
    # A second replica gets them now, not after ack_wait (30 s): 10 s tells the two apart with room
    # for a loaded machine.
    second = ContinuousPull(nc, schemas.STREAM, "enricher", capacity=16)
    await second.start()
    taken = await take(second, 5, timeout=10)
    assert sorted(m.headers[schemas.MSG_ID_HEADER] for m in taken) == [f"handed-back-{n}" for n in range(5)]
    for msg in taken:
        await msg.ack()
    await second.close()


async def test_a_stage_never_holds_more_than_its_capacity(nc: Client) -> None:
    pull = ContinuousPull(nc, schemas.STREAM, "enricher", capacity=10)
    await pull.start()
    await publish(nc, 40, "capacity")
    held: list[Any] = []
    async with asyncio.timeout(10):
        while len(held) < 10:
            await pull.top_up(held=len(held))
            held += pull.take()
            await pull.wait(held=len(held))
    # Full: nothing more is asked for, so nothing more arrives while the ten are being handled.
    await pull.top_up(held=len(held))
    await pull.wait(held=len(held))
    assert len(held) + len(pull.arrived) == 10
    info = await nc.jetstream().consumer_info(schemas.STREAM, "enricher")
    assert info.num_ack_pending == 10
    await pull.close()


class _WatchedWake(asyncio.Event):
    """The pull's wake-up, telling the test when the stage's loop is waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waited_on.set()
        return await super().wait()


async def test_a_stage_cancelled_as_a_message_wakes_it_stops_instead_of_running_on(nc: Client) -> None:
    pull = ContinuousPull(nc, schemas.STREAM, "enricher", capacity=8)
    await pull.start()
    pull.wake = wake = _WatchedWake()
    waiting = asyncio.create_task(pull.wait(held=8))  # full: it waits for room or a message
    await asyncio.wait_for(wake.waited_on.wait(), timeout=5)
    # A message wakes the loop and its stage is cancelled in the same turn (a replica killed mid-flood):
    # the cancellation must end the loop, or it runs on, orphaned, on a connection being closed.
    pull.interrupt()
    waiting.cancel()
    done, _ = await asyncio.wait({waiting}, timeout=5)
    assert waiting in done
    assert waiting.cancelled()  # ended by the cancellation, not returned as if only woken
    await pull.close()
