"""Where an alert got to when its analysis did not come: which stage holds it, and why.

Read from the stream itself (each stage's output carries the alert's id) and from the stage's own
/readyz, so the answer names the stage to look at: dead-lettered by one, or waiting for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError

import schemas
from services.cli._probes import probe_all
from services.cli._window import read_window

# Stream timestamps and this machine's clock may differ a little.
CLOCK_SLACK = timedelta(seconds=5)
# The command has already waited its --timeout: the reason why may take this much longer, no more.
DIAGNOSIS_SECONDS = 2.0


class _Identified(msgspec.Struct):
    id: str


def id_of(data: bytes | str) -> str | None:
    """The alert id of any pipeline message, without decoding the rest; None for what is not one."""
    try:
        return schemas.decode(data, _Identified).id
    except (schemas.DecodeError, schemas.ValidationError):
        return None


async def _holds(js: JetStreamContext, subject: str, alert_id: str, since: datetime) -> bool:
    async for msg in read_window(js, subject, since - CLOCK_SLACK):
        if id_of(msg.data) == alert_id:
            return True
    return False


async def _dead_letter(js: JetStreamContext, alert_id: str, since: datetime) -> schemas.DeadLetter | None:
    async for msg in read_window(js, schemas.DEAD, since - CLOCK_SLACK):
        letter = schemas.decode(msg.data, schemas.DeadLetter)
        if letter.payload_encoding == "utf-8" and id_of(letter.payload) == alert_id:
            return letter
    return None


async def _consumer(js: JetStreamContext, stage: str) -> ConsumerInfo | None:
    try:
        info: ConsumerInfo = await js.consumer_info(schemas.STREAM, stage)
    except NotFoundError:
        return None
    return info


async def whereabouts(js: JetStreamContext, alert_id: str, since: datetime, urls: Mapping[str, str]) -> str:
    """Where the alert is, within DIAGNOSIS_SECONDS: every read at once, as the command has timed out."""
    stages = ("enricher", "analyst")
    try:
        async with asyncio.timeout(DIAGNOSIS_SECONDS):
            letter, enriched, raw, consumers, probes = await asyncio.gather(
                _dead_letter(js, alert_id, since),
                _holds(js, schemas.ENRICHED, alert_id, since),
                _holds(js, schemas.RAW, alert_id, since),
                asyncio.gather(*(_consumer(js, stage) for stage in stages)),
                probe_all({stage: urls[stage] for stage in stages}, metrics=False),
            )
    except TimeoutError:
        return f"where it is could not be read within {DIAGNOSIS_SECONDS:g} s (see aiops status)"
    if letter is not None:
        return f"the {letter.stage} gave up on it: {letter.error[:200]} (see aiops dlq list)"
    if enriched:
        stage = "analyst"
    elif raw:
        stage = "enricher"
    else:
        return "ingest accepted it, but it is not on alerts.raw (was the stream purged?)"
    info = consumers[stages.index(stage)]
    if info is None:
        return f"it waits for the {stage}, which has never started (its consumer does not exist)"
    probe = probes[stage]
    state = "ready" if probe.ready else f"{'not ready' if probe.up else 'down'}: {probe.reason}"
    return (
        f"it waits for the {stage} ({state}; {info.num_pending} pending, "
        f"{info.num_ack_pending} in progress, {info.num_redelivered} redelivered)"
    )
