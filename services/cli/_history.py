"""``aiops history rebuild --since 7d``: refill history from what the stream still holds."""

from __future__ import annotations

from datetime import datetime

from services.cli._common import nats_connection, out
from services.cli._progress import Tracker
from services.cli._window import left_in_window, read_window
from services.history import History
from services.history._db import HistoryUnavailable
from services.history._rebuild import SOURCES, Rebuilder
from services.history._settings import HistorySettings
from services.runtime import ConfigError, load


async def rebuild(since: datetime | None) -> int:
    try:
        settings = load(HistorySettings)
    except ConfigError as exc:
        raise SystemExit(f"aiops history: configuration error: {exc}") from exc
    try:
        history = await History.open(settings.database_url)
    except (HistoryUnavailable, ValueError) as exc:
        raise SystemExit(f"aiops history: cannot open the database: {exc}") from exc
    try:
        async with nats_connection("history") as nc:
            js = nc.jetstream()
            for subject in SOURCES:
                rebuilder = Rebuilder(history, subject)
                with Tracker(f"rebuild {subject}") as progress:
                    async for msg in read_window(js, subject, since):
                        if progress.total is None:
                            progress.start(left_in_window(msg))
                        await rebuilder.add(msg.data)
                        progress.advance()
                    await rebuilder.flush()
                skipped = f", {rebuilder.skipped} undecodable skipped" if rebuilder.skipped else ""
                out(f"{subject}: {rebuilder.written} written{skipped}")
    except HistoryUnavailable as exc:
        raise SystemExit(f"aiops history: the database failed: {exc}") from exc
    finally:
        await history.close()
    return 0
