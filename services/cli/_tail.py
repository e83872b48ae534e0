"""``aiops tail``: follow alerts.analyzed (or, with --incidents, alerts.incidents.*) and print readably."""

from __future__ import annotations

import asyncio
from datetime import datetime

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

import schemas
from services.cli._common import nats_connection, note, out, render
from services.cli._window import newest, read_window, require_stream

# Alert names spelt out per incident; the others are counted.
NAMES_SHOWN = 5


def _counts(alertnames: dict[str, int]) -> str:
    ranked = sorted(alertnames.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{n} {name}" for name, n in ranked[:NAMES_SHOWN])
    rest = sum(n for _, n in ranked[NAMES_SHOWN:])
    return f"{shown} and {rest} more" if rest else shown


def render_incident(message: schemas.IncidentEvent) -> str:
    """An incident event as an on-call engineer reads it in a terminal: what, where, how many, why."""
    incident = message.incident
    replay = f" [replay {message.replay.id}]" if message.replay else ""
    head = f"[{message.sent_at:%H:%M:%S}] {incident.id} {message.event.upper()} #{message.sequence}{replay}"
    lines = [f"{head} · {incident.severity or 'no severity'} · {incident.title}"]
    if incident.root is not None:
        root = incident.root
        place = " ".join(
            f"{k}={v}" for k, v in sorted(root.labels.items()) if k not in ("alertname", "severity")
        )
        lines.append(
            "  root: " + " ".join(part for part in (root.alertname, place, f"({root.status})") if part)
        )
    counts = _counts(incident.alertnames)
    lines.append(
        f"  members: {incident.member_count} ({incident.firing_count} firing)"
        + (f": {counts}" if counts else "")
    )
    if message.changes:
        lines.append(f"  changes: {', '.join(message.changes)}")
    analysis = incident.analysis
    if analysis is not None:
        degraded = ", degraded" if analysis.degraded else ""
        lines.append(f"  analysis ({analysis.analyzer}{degraded}): {analysis.summary}")
        lines.append(f"  cause: {analysis.root_cause}")
    return "\n".join(lines)


def _rendered(data: bytes, incidents: bool) -> str:
    if incidents:
        return render_incident(schemas.decode(data, schemas.IncidentEvent))
    return render(schemas.decode(data, schemas.AnalyzedAlert))


def _show(msg: Msg, json_output: bool, incidents: bool) -> None:
    if json_output:
        out(msg.data.decode())
        return
    try:
        out(_rendered(msg.data, incidents) + "\n")
    except (schemas.DecodeError, schemas.ValidationError) as exc:
        out(f"(unreadable message on {msg.subject}: {exc})")


def _waiting(subject: str, windowed: bool, shown: int, incidents: bool) -> str:
    """Said on stderr before the wait, so that a quiet terminal is not taken for a hung command."""
    line = f"aiops tail: waiting for new messages on {subject} (Ctrl-C stops)"
    if incidents and not shown:
        return (
            f"{line}; the analyst publishes incident events only with INCIDENTS_ENABLED=true"
            " (docs/incidents.md)"
        )
    if not windowed:
        return f"{line}; add --since 1h for the last hour's too"
    return line


async def tail(since: datetime | None, json_output: bool, limit: int | None, incidents: bool = False) -> int:
    """With ``since``, the window's messages (its last ``limit`` of them), then new ones, until
    ``limit`` were shown."""
    subject = schemas.INCIDENTS if incidents else schemas.ANALYZED
    async with nats_connection("tail") as nc:
        js = nc.jetstream()
        await require_stream(js, subject)
        # Subscribed before the window is read, so that what is stored meanwhile is followed, not lost.
        live = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
        shown = window_end = 0
        if since is not None:
            async for msg in newest(read_window(js, subject, since), limit):
                _show(msg, json_output, incidents)
                shown += 1
                window_end = msg.metadata.sequence.stream
        if limit is None or shown < limit:
            note(_waiting(subject, since is not None, shown, incidents))
        while limit is None or shown < limit:
            try:
                msg = await live.next_msg(timeout=3600)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                break
            # Stored while the window was read: shown already, or older than the newest ``limit``.
            if msg.metadata.sequence.stream <= window_end:
                continue
            _show(msg, json_output, incidents)
            shown += 1
    return 0
