"""``aiops replay``: feed a past window back through the later stages, marked as a replay.

Alerts (alerts.raw, alerts.enriched) go through the stages after them again; incident events
(alerts.incidents.*) go back to their own subjects, for their subscribers and, with --notify, the notifier.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

import schemas
from services.cli._common import nats_connection, out
from services.cli._progress import Tracker
from services.cli._window import left_in_window, read_window
from services.runtime import MessageTooLarge, refuse_if_too_large

INCIDENT_SUBJECTS = (
    schemas.INCIDENTS,
    schemas.INCIDENT_OPENED,
    schemas.INCIDENT_UPDATED,
    schemas.INCIDENT_RESOLVED,
)
REPLAYABLE = (schemas.RAW, schemas.ENRICHED, *INCIDENT_SUBJECTS)

Replayable = schemas.RawAlert | schemas.IncidentEvent


def labels_of(message: Replayable) -> dict[str, str]:
    """What --match selects on: an alert's labels; an incident's scope and its root's labels."""
    if isinstance(message, schemas.IncidentEvent):
        root = message.incident.root
        return {**(root.labels if root else {}), **message.incident.scope}
    return message.alert.labels


def matches(message: Replayable, selectors: dict[str, str]) -> bool:
    labels = labels_of(message)
    return all(labels.get(name) == value for name, value in selectors.items())


def _message_type(subject: str) -> type[Replayable]:
    if subject in INCIDENT_SUBJECTS:
        return schemas.IncidentEvent
    return schemas.RawAlert if subject == schemas.RAW else schemas.EnrichedAlert


def _shown(message: Replayable) -> str:
    if isinstance(message, schemas.IncidentEvent):
        return f"{message.id} {message.event} {message.incident.title}"
    return f"{schemas.short_id(message.id)} {message.alert.labels.get('alertname')}"


class _Replayer:
    """One replay run: what it selects, how it marks what it republishes, what it already sent."""

    def __init__(
        self,
        js: JetStreamContext,
        subject: str,
        selectors: dict[str, str],
        marker: schemas.Replay,
        dry_run: bool,
        max_payload: int,
    ) -> None:
        self.js = js
        self.max_payload = max_payload
        self.subject = subject
        self.message_type = _message_type(subject)
        self.selectors = selectors
        self.marker = marker
        self.dry_run = dry_run
        self.seen: set[str] = set()

    async def one(self, msg: Msg) -> str | None:
        """Replay one stored message; the line to show, or None when it is skipped."""
        try:
            message = schemas.decode(msg.data, self.message_type)
        except (schemas.DecodeError, schemas.ValidationError):
            return None
        # A replay replays alerts, not earlier replays of them.
        if message.replay is not None or message.id in self.seen or not matches(message, self.selectors):
            return None
        self.seen.add(message.id)
        if not self.dry_run:
            marked = msgspec.structs.replace(message, replay=self.marker)
            # An incident event goes back to its own kind's subject, whatever subject selected it.
            subject = (
                schemas.incident_subject(message.event)
                if isinstance(message, schemas.IncidentEvent)
                else self.subject
            )
            payload = schemas.encode(marked)
            headers = {schemas.MSG_ID_HEADER: f"replay:{self.marker.id}:{message.id}"}
            # Marked, a message stored just under the limit may be over it: the server would cut the
            # connection, and the replay would stop there.
            refuse_if_too_large(payload, headers, self.max_payload)
            await self.js.publish(subject, payload, headers=headers)
        verb = "would replay" if self.dry_run else "replayed"
        return f"{verb} {_shown(message)}"


async def replay(
    *,
    since: datetime,
    until: datetime | None,
    subject: str,
    selectors: dict[str, str],
    reanalyze: bool,
    notify: bool,
    dry_run: bool,
) -> int:
    if subject not in REPLAYABLE:
        raise SystemExit(f"aiops replay: --subject must be one of {', '.join(REPLAYABLE)}")
    if reanalyze and subject in INCIDENT_SUBJECTS:
        raise SystemExit("aiops replay: --reanalyze replays alerts; incident events carry their analysis")
    marker = schemas.Replay(
        # Unique per run: two replays in the same second must not share de-duplication ids.
        id=f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        requested_at=datetime.now(UTC),
        reanalyze=reanalyze,
        notify=notify,
    )
    replayed = skipped = 0
    async with nats_connection("replay") as nc:
        replayer = _Replayer(nc.jetstream(), subject, selectors, marker, dry_run, nc.max_payload)
        with Tracker("reading" if dry_run else "replay") as progress:
            async for msg in read_window(replayer.js, subject, since, until):
                if progress.total is None:
                    progress.start(left_in_window(msg))
                progress.advance()
                try:
                    line = await replayer.one(msg)
                except MessageTooLarge as exc:
                    progress.note(f"skipped seq={msg.metadata.sequence.stream}: marked, {exc.reason}")
                    line = None
                if line is None:
                    skipped += 1
                    continue
                replayed += 1
                # On a terminal the bar says how far it got; a listing (--dry-run) is still wanted.
                if dry_run or not progress.terminal:
                    progress.note(line)
    what = "incident event(s)" if subject in INCIDENT_SUBJECTS else "alert(s)"
    out(
        f"{replayed} {what} {'selected' if dry_run else 'replayed as ' + marker.id} from {subject}, "
        f"{skipped} skipped; reanalyze={reanalyze} notify={notify}"
    )
    return 0
