"""Incident events to Slack: one message per incident.

With a bot token, ``opened`` posts the message (its channel and ``ts`` kept in the ledger),
later events edit it in place (``chat.update``) and say in its thread what changed and which
alerts joined. An incoming webhook cannot edit: it posts at ``opened`` and ``resolved``, and an
``updated`` only for a change a person needs (a new root about another subject, severity up,
reopened), at most once per ``NOTIFY_INCIDENT_UPDATE_SECONDS``; an update due sooner is held, and
one that a newer event superseded is dropped, the newer one carrying it.

Events of one incident reach this one at a time in a process (``_incidents.py``), but may
arrive out of order: what the thread shows only moves forward (``shown``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import orjson

import schemas
from services.notifier._http import Answer, Request
from services.notifier._incident_view import IncidentView, important
from services.notifier._kind import JSON_HEADERS, Destination, IncidentExchange, Result
from services.notifier._ledger import thread_key
from services.notifier._slack import wants_buttons
from services.notifier._slack_bot import Bot, api_request, bot, judge, reply
from services.notifier._slack_incident import incident_message, thread_reply
from services.runtime import current_delivery

# A later event whose incident has no message yet waits this long, this many times, for the
# opening one (handled in parallel, or by another replica) before it posts a message itself.
OPENING_WAIT_SECONDS = 2.0
OPENING_PATIENCE = 3
HOLD_MARGIN_SECONDS = 1.0


class Thread(msgspec.Struct, kw_only=True, frozen=True):
    """What one Slack destination was told about one incident."""

    channel: str = ""
    ts: str = ""
    # The newest event the message shows, the newest whose thread reply is posted, the newest seen.
    shown: int = 0
    replied: int = 0
    latest: int = 0
    # Members per alert name the thread has listed so far.
    told: dict[str, int] = {}
    # Incoming webhook: the last post, and whether an update a person needs waits for the interval.
    posted_at: datetime | None = None
    owed: bool = False


def _failed(answer: Answer) -> Result:
    return Result(judge(answer), answer)


async def _bot(x: IncidentExchange, d: Destination, b: Bot, event: schemas.IncidentEvent) -> Result:
    key, v, seq = thread_key(event, d.name), IncidentView(event), event.sequence
    thread = await x.ledger.recall(key, Thread) or Thread()
    counts = dict(event.incident.alertnames)
    if not thread.ts:
        if event.event != "opened" and current_delivery() < OPENING_PATIENCE:
            return Result(
                "held", reason="waiting for the incident's first message", delay=OPENING_WAIT_SECONDS
            )
        answer = await x.call(
            api_request(b, "chat.postMessage", incident_message(v, buttons=wants_buttons(d)))
        )
        if judge(answer) != "delivered":
            return _failed(answer)
        said = reply(answer)
        if said is None or not said.ts:
            return Result("rejected", answer)  # an answer that names no message cannot be edited later
        thread = Thread(
            channel=said.channel or b.channel, ts=said.ts, shown=seq, replied=seq, latest=seq, told=counts
        )
        await x.ledger.record(key, thread)
        return Result("delivered", answer)
    if seq < thread.shown or seq <= thread.replied:
        return Result("superseded")
    last: Answer | None = None
    here = Bot(b.token, thread.channel, b.api_url)
    if seq > thread.shown:
        message = incident_message(v, buttons=wants_buttons(d))
        last = await x.call(api_request(here, "chat.update", {"ts": thread.ts, **message}))
        if judge(last) != "delivered":
            return _failed(last)
        thread = msgspec.structs.replace(thread, shown=seq, latest=max(thread.latest, seq))
        await x.ledger.record(key, thread)
    text = thread_reply(v, thread.told)
    if text:
        last = await x.call(api_request(here, "chat.postMessage", {"thread_ts": thread.ts, "text": text}))
        if judge(last) != "delivered":
            return _failed(last)
    await x.ledger.record(key, msgspec.structs.replace(thread, replied=seq, told=counts))
    return Result("delivered", last)


async def _webhook(x: IncidentExchange, d: Destination, event: schemas.IncidentEvent) -> Result:
    key, seq, now = thread_key(event, d.name), event.sequence, x.clock()
    thread = await x.ledger.recall(key, Thread) or Thread()
    seen = msgspec.structs.replace(thread, latest=max(thread.latest, seq))
    if event.event == "updated":
        if seq < thread.latest:
            return Result("superseded")
        if not (important(event) or thread.owed):
            await x.ledger.record(key, seen)
            return Result("suppressed_update")
        wait = 0.0
        if thread.posted_at is not None:
            wait = x.update_seconds - (now - thread.posted_at).total_seconds()
        if wait > 0:
            await x.ledger.record(key, msgspec.structs.replace(seen, owed=True))
            reason = f"one update per {x.update_seconds:g}s, held for {wait:.0f}s"
            return Result("held", reason=reason, delay=wait + HOLD_MARGIN_SECONDS)
    message = incident_message(
        IncidentView(event), with_changes=event.event == "updated", buttons=wants_buttons(d)
    )
    answer = await x.call(Request(d.url, orjson.dumps(message), JSON_HEADERS))
    if judge(answer) != "delivered":
        return _failed(answer)
    await x.ledger.record(key, msgspec.structs.replace(seen, shown=seq, posted_at=now, owed=False))
    return Result("delivered", answer)


async def deliver(x: IncidentExchange, d: Destination, event: schemas.IncidentEvent) -> Result:
    b = bot(d)
    return await (_bot(x, d, b, event) if b is not None else _webhook(x, d, event))
