"""Where an alert got to when its analysis did not come: which stage holds it, and why.

Read from the stream itself (each stage's output carries the alert's id) and from the stage's own
/readyz, so the answer names the stage to look at: dead-lettered by one, or waiting for one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

import schemas
from services.cli._probes import probe_all
from services.cli._window import read_window

# Stream timestamps and this machine's clock may differ a little.
CLOCK_SLACK = timedelta(seconds=5)


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


async def whereabouts(js: JetStreamContext, alert_id: str, since: datetime, urls: Mapping[str, str]) -> str:
    letter = await _dead_letter(js, alert_id, since)
    if letter is not None:
        return f"the {letter.stage} gave up on it: {letter.error[:200]} (see aiops dlq list)"
    if await _holds(js, schemas.ENRICHED, alert_id, since):
        stage = "analyst"
    elif await _holds(js, schemas.RAW, alert_id, since):
        stage = "enricher"
    else:
        return "ingest accepted it, but it is not on alerts.raw (was the stream purged?)"
    try:
        info = await js.consumer_info(schemas.STREAM, stage)
    except NotFoundError:
        return f"it waits for the {stage}, which has never started (its consumer does not exist)"
    probe = (await probe_all({stage: urls[stage]}, metrics=False))[stage]
    state = "ready" if probe.ready else f"{'not ready' if probe.up else 'down'}: {probe.reason}"
    return (
        f"it waits for the {stage} ({state}; {info.num_pending} pending, "
        f"{info.num_ack_pending} in progress, {info.num_redelivered} redelivered)"
    )
