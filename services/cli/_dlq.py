"""``aiops dlq list`` and ``aiops dlq redrive``: look at dead letters, and send them back."""

from __future__ import annotations

import base64
import sys

import orjson
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

import schemas
from services.cli._common import nats_connection, out
from services.cli._progress import Tracker
from services.cli._window import left_in_window, newest, read_window, require_stream
from services.runtime import MessageTooLarge, refuse_if_too_large


async def dlq_list(limit: int, json_output: bool) -> int:
    """The newest ``limit`` dead letters, oldest first: the one a stage just gave up on is always shown."""
    async with nats_connection("dlq") as nc:
        js = nc.jetstream()
        info = await require_stream(js, schemas.DEAD)
        stored = sum((info.state.subjects or {}).values())
        if stored > limit and not json_output:
            out(f"({stored - limit} older dead letter(s) not shown; -n {stored} shows them)")
        shown = 0
        async for msg in newest(read_window(js, schemas.DEAD, None), limit):
            seq = msg.metadata.sequence.stream
            letter, why = _letter(msg.data)
            if letter is None:
                # Something else published on the dead letters' subject: shown, never a traceback.
                if json_output:
                    out(orjson.dumps({"seq": seq, "not_a_dead_letter": why}).decode())
                else:
                    out(f"seq={seq} not a dead letter (published by something else?)\n    {why}")
                shown += 1
                continue
            if json_output:
                out(orjson.dumps({"seq": seq, **orjson.loads(msg.data)}).decode())
            else:
                out(
                    f"seq={seq} stage={letter.stage} subject={letter.subject} attempts={letter.attempts} "
                    f"at={letter.failed_at:%Y-%m-%dT%H:%M:%SZ}\n    {letter.error[:300]}"
                    + (
                        f"\n    payload not kept (too large): stream sequence {letter.stream_seq}"
                        if letter.payload_omitted
                        else ""
                    )
                )
            shown += 1
        if not shown and not json_output:
            out("no dead letters")
    return 0


async def dlq_redrive(
    sequences: list[int], redrive_all: bool, stage: str | None, undecodable: bool = False
) -> int:
    """Republish each chosen payload to its original subject, then delete its dead letter.

    1 when a --seq named was not redriven: no such letter, or one kept (and said why).
    """
    if not sequences and not redrive_all and not stage:
        raise SystemExit("aiops dlq redrive: give --seq N (repeatable), --stage NAME or --all")
    wanted = set(sequences)
    found: set[int] = set()
    redriven: set[int] = set()
    kept_undecodable = 0
    async with nats_connection("dlq") as nc:
        js = nc.jetstream()
        with Tracker("redrive") as progress:
            async for msg in read_window(js, schemas.DEAD, None):
                if progress.total is None:
                    progress.start(left_in_window(msg))
                progress.advance()
                seq = msg.metadata.sequence.stream
                if wanted and seq not in wanted:
                    continue
                found.add(seq)
                letter, why = _letter(msg.data)
                if letter is None:
                    if wanted:
                        progress.note(f"kept seq={seq}: not a dead letter, nothing to resend ({why})")
                    continue
                if stage and letter.stage != stage:
                    if wanted:
                        progress.note(
                            f"kept seq={seq}: a letter of the {letter.stage}, not of --stage {stage}"
                        )
                    continue
                if letter.error_type == schemas.UNDECODABLE and not undecodable:
                    kept_undecodable += 1
                    progress.note(
                        f"kept seq={seq}: the {letter.stage} could not decode it ({letter.error[:120]}), "
                        "so resent unchanged it fails again; --undecodable resends it after an upgrade"
                    )
                    continue
                payload = await _original(js, letter)
                if payload is None:
                    progress.note(
                        f"kept seq={seq}: its payload was too large to keep in the letter, and stream "
                        f"sequence {letter.stream_seq} no longer holds it (past the stream's limits)"
                    )
                    continue
                headers = {schemas.MSG_ID_HEADER: f"redrive:{seq}"}
                try:
                    refuse_if_too_large(payload, headers, nc.max_payload)
                except MessageTooLarge as exc:
                    progress.note(f"kept seq={seq}: {exc.reason}; raise it on the server first")
                    continue
                await js.publish(letter.subject, payload, headers=headers)
                await js.delete_msg(schemas.STREAM, seq)
                redriven.add(seq)
                progress.note(f"redrove seq={seq} to {letter.subject} (was: {letter.error[:120]})")
    kept = f"; {kept_undecodable} undecodable kept" if kept_undecodable else ""
    out(f"{len(redriven)} dead letter(s) redriven{kept}")
    missing = sorted(wanted - found)
    if missing:
        print(f"aiops dlq redrive: no dead letter at seq {', '.join(map(str, missing))}", file=sys.stderr)
    return 1 if wanted - redriven else 0


def _letter(data: bytes) -> tuple[schemas.DeadLetter | None, str]:
    """The dead letter, or None and why the message on the subject is not one."""
    try:
        return schemas.decode(data, schemas.DeadLetter), ""
    except (schemas.DecodeError, schemas.ValidationError) as exc:
        return None, f"cannot decode DeadLetter: {str(exc)[:200]}"


async def _original(js: JetStreamContext, letter: schemas.DeadLetter) -> bytes | None:
    """The failed message's bytes: from the letter, or, when too large to be kept in it, from the stream."""
    if not letter.payload_omitted:
        return (
            base64.b64decode(letter.payload)
            if letter.payload_encoding == "base64"
            else letter.payload.encode()
        )
    try:
        kept = await js.get_msg(schemas.STREAM, letter.stream_seq)
    except NotFoundError:
        return None
    same = kept.subject == letter.subject and (
        not letter.msg_id or (kept.headers or {}).get(schemas.MSG_ID_HEADER) == letter.msg_id
    )
    return kept.data if same and kept.data is not None else None
