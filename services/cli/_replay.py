"""``aiops replay``: feed a past window back through the later stages, marked as a replay."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import msgspec

import schemas
from services.cli._common import nats_connection, out
from services.cli._window import read_window

REPLAYABLE = (schemas.RAW, schemas.ENRICHED)


def matches(message: schemas.RawAlert, selectors: dict[str, str]) -> bool:
    return all(message.alert.labels.get(name) == value for name, value in selectors.items())


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
    marker = schemas.Replay(
        # Unique per run: two replays in the same second must not share de-duplication ids.
        id=f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        requested_at=datetime.now(UTC),
        reanalyze=reanalyze,
        notify=notify,
    )
    message_type = schemas.RawAlert if subject == schemas.RAW else schemas.EnrichedAlert
    seen: set[str] = set()
    replayed = skipped = 0
    async with nats_connection("replay") as nc:
        js = nc.jetstream()
        async for msg in read_window(js, subject, since, until):
            try:
                message = schemas.decode(msg.data, message_type)
            except (schemas.DecodeError, schemas.ValidationError):
                skipped += 1
                continue
            # A replay replays alerts, not earlier replays of them.
            if message.replay is not None or message.id in seen or not matches(message, selectors):
                skipped += 1
                continue
            seen.add(message.id)
            if not dry_run:
                marked = msgspec.structs.replace(message, replay=marker)
                await js.publish(
                    subject,
                    schemas.encode(marked),
                    headers={schemas.MSG_ID_HEADER: f"replay:{marker.id}:{message.id}"},
                )
            replayed += 1
            verb = "would replay" if dry_run else "replayed"
            out(f"{verb} {message.id[:12]} {message.alert.labels.get('alertname')}")
    out(
        f"{replayed} alert(s) {'selected' if dry_run else 'replayed as ' + marker.id} from {subject}, "
        f"{skipped} skipped; reanalyze={reanalyze} notify={notify}"
    )
    return 0
