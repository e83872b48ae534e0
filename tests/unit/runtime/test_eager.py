from __future__ import annotations

import asyncio

import pytest

from services.runtime._eager import resume, start


async def finishes_at_once(value: int) -> int:
    return value * 2


async def waits_then_finishes(event: asyncio.Event, value: int) -> int:
    await event.wait()
    await asyncio.sleep(0)
    return value + 1


async def fails_after_waiting(event: asyncio.Event) -> int:
    await event.wait()
    raise ValueError("backend said no")


async def test_a_coroutine_that_never_waits_finishes_inline() -> None:
    assert start(finishes_at_once(21)) == (True, 42)


async def test_a_waiting_coroutine_continues_in_a_task_with_its_result() -> None:
    event = asyncio.Event()
    coro = waits_then_finishes(event, 1)
    finished, awaited = start(coro)
    assert not finished
    task = asyncio.ensure_future(resume(coro, awaited))
    event.set()
    assert await asyncio.wait_for(task, 5) == 2


async def test_errors_after_the_first_wait_reach_the_task() -> None:
    event = asyncio.Event()
    coro = fails_after_waiting(event)
    _, awaited = start(coro)
    task = asyncio.ensure_future(resume(coro, awaited))
    event.set()
    with pytest.raises(ValueError, match="backend said no"):
        await asyncio.wait_for(task, 5)


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    event = asyncio.Event()
    coro = waits_then_finishes(event, 1)
    _, awaited = start(coro)
    task = asyncio.ensure_future(resume(coro, awaited))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert coro.cr_frame is None  # the coroutine itself was closed by the cancellation
