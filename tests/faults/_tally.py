"""What the pipeline did with the alerts a scenario sent: counted on the stream and at the sink."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
from nats.js import JetStreamContext

import schemas
from tests.faults._report import Row, record
from tests.faults._sink import Sink
from tests.support.stream import read_subject, subject_count

CONSUMER_NAMES = ("enricher", "analyst", "notifier")


@contextlib.asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A connection of the test's own, to one server or all nodes of a cluster."""
    nc = await nats.connect(servers=url.split(","), reconnect_time_wait=0.2, max_reconnect_attempts=-1)
    try:
        yield nc.jetstream(timeout=3)
    finally:
        await nc.close()


async def wait_until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Poll an observable condition; returns the seconds it took."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(within):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {within:g} s") from None
    return time.monotonic() - started


async def safely(js_call: Callable[[], Awaitable[int]]) -> int:
    """A count that reads 0 while NATS is away (a broker or node restart), instead of raising."""
    try:
        return await js_call()
    except Exception:
        return 0


async def drained(js: JetStreamContext) -> bool:
    """Every stage acked everything it was given: nothing can be redelivered any more."""
    try:
        for name in CONSUMER_NAMES:
            info = await js.consumer_info(schemas.STREAM, name, timeout=2)
            if info.num_pending or info.num_ack_pending:
                return False
    except Exception:
        return False
    return True


async def wait_delivered(js: JetStreamContext, sink: Sink, ids: set[str], within: float) -> None:
    """Until the sink has every id and every consumer is drained (so no late duplicate can come)."""

    async def done() -> bool:
        return ids <= set(sink.per_id()) and await drained(js)

    try:
        await wait_until(done, within, "every alert delivered")
    except TimeoutError:
        missing = len(ids - set(sink.per_id()))
        raise AssertionError(f"{missing} of {len(ids)} alerts not delivered after {within}s") from None


async def where_things_stand(js: JetStreamContext, sink: Sink, ids: set[str]) -> str:
    """What a stalled scenario's failure message says: each consumer's backlog and the sink's count."""
    parts = [f"sink has {len(ids & set(sink.per_id()))} of {len(ids)} accepted alerts"]
    for name in CONSUMER_NAMES:
        try:
            info = await js.consumer_info(schemas.STREAM, name, timeout=2)
        except Exception as exc:
            parts.append(f"{name}: consumer info failed ({type(exc).__name__})")
            continue
        leader = info.cluster.leader if info.cluster else "-"
        parts.append(
            f"{name}: pending {info.num_pending}, ack pending {info.num_ack_pending}, "
            f"redelivered {info.num_redelivered}, waiting requests {info.num_waiting}, leader {leader}"
        )
    return "; ".join(parts)


async def analysed(js: JetStreamContext) -> Counter[str]:
    """Each alert id on alerts.analyzed with the number of messages it has there."""
    count = await subject_count(js, schemas.ANALYZED)
    messages = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=count, timeout=60)
    return Counter(m.id for m in messages)


async def raw_ids(js: JetStreamContext) -> set[str]:
    count = await subject_count(js, schemas.RAW)
    return {m.id for m in await read_subject(js, schemas.RAW, schemas.RawAlert, count=count, timeout=60)}


async def tally(
    scenario: str,
    js: JetStreamContext,
    sink: Sink,
    sent: set[str],
    recover: float | None,
    note: str = "",
    *,
    reposts_expected: bool = False,
) -> Row:
    """Record the scenario's row: lost = sent but not analysed or not notified; duplicates anywhere.

    A re-post the sink answered from its Idempotency-Key record reached no one twice; it counts as a
    duplicate all the same unless the scenario is the one where it cannot be avoided (a notifier
    killed between a destination's answer and its record), and is then reported in the note.
    """
    on_stream = await analysed(js)
    at_sink = sink.per_id()
    complete = set(on_stream) & set(at_sink)
    stream_copies = sum(n - 1 for n in on_stream.values())
    sink_copies = sum(n - 1 for n in at_sink.values())
    reposts = sink.reposts()
    duplicated = stream_copies + sink_copies + (0 if reposts_expected else reposts)
    if duplicated:
        counts = f"{stream_copies} on alerts.analyzed, {sink_copies + reposts} at the sink"
        note = f"{note}; duplicates: {counts}".lstrip("; ")
    if reposts_expected and reposts:
        note = f"{note}; {reposts} re-posts after the kill, dropped by the receiver's Idempotency-Key"
    return record(
        Row(
            scenario=scenario,
            sent=len(sent),
            analysed=len(set(on_stream) & sent),
            notified=len(set(at_sink) & sent),
            lost=len(sent - complete),
            duplicated=duplicated,
            recover_seconds=recover,
            note=note,
        )
    )
