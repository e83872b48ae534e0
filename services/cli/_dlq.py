"""``aiops dlq list`` and ``aiops dlq redrive``: look at dead letters, and send them back."""

from __future__ import annotations

import base64

import orjson

import schemas
from services.cli._common import nats_connection, out
from services.cli._progress import Tracker
from services.cli._window import left_in_window, read_window


async def dlq_list(limit: int, json_output: bool) -> int:
    async with nats_connection("dlq") as nc:
        shown = 0
        async for msg in read_window(nc.jetstream(), schemas.DEAD, None):
            letter = schemas.decode(msg.data, schemas.DeadLetter)
            seq = msg.metadata.sequence.stream
            if json_output:
                out(orjson.dumps({"seq": seq, **orjson.loads(msg.data)}).decode())
            else:
                out(
                    f"seq={seq} stage={letter.stage} subject={letter.subject} attempts={letter.attempts} "
                    f"at={letter.failed_at:%Y-%m-%dT%H:%M:%SZ}\n    {letter.error[:300]}"
                )
            shown += 1
            if shown >= limit:
                break
        if not shown and not json_output:
            out("no dead letters")
    return 0


async def dlq_redrive(sequences: list[int], redrive_all: bool, stage: str | None) -> int:
    """Republish each chosen payload to its original subject, then delete its dead letter."""
    if not sequences and not redrive_all and not stage:
        raise SystemExit("aiops dlq redrive: give --seq N (repeatable), --stage NAME or --all")
    wanted = set(sequences)
    redriven = 0
    async with nats_connection("dlq") as nc:
        js = nc.jetstream()
        with Tracker("redrive") as progress:
            async for msg in read_window(js, schemas.DEAD, None):
                if progress.total is None:
                    progress.start(left_in_window(msg))
                progress.advance()
                seq = msg.metadata.sequence.stream
                letter = schemas.decode(msg.data, schemas.DeadLetter)
                if (wanted and seq not in wanted) or (stage and letter.stage != stage):
                    continue
                payload = (
                    base64.b64decode(letter.payload)
                    if letter.payload_encoding == "base64"
                    else letter.payload.encode()
                )
                await js.publish(letter.subject, payload, headers={schemas.MSG_ID_HEADER: f"redrive:{seq}"})
                await js.delete_msg(schemas.STREAM, seq)
                redriven += 1
                progress.note(f"redrove seq={seq} to {letter.subject} (was: {letter.error[:120]})")
    out(f"{redriven} dead letter(s) redriven")
    return 0
