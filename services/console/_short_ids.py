"""An alert named by the start of its id, as ``aiops tail``, ``aiops send`` and the demo show it.

``/alerts/<start>`` and ``/api/alerts/<start>`` answer for the one alert whose id starts so (the page
redirects to its whole id); when several do, 300 Multiple Choices lists them; when none, 404 as before.
A start shorter than what is shown (``schemas.SHORT_ID_CHARS``) is not looked up.
"""

from __future__ import annotations

import re

import schemas
from services.console._html import Frame, esc, layout
from services.console._live import Recent
from services.console._store import HistoryHandle

# Alert ids are lowercase hex (a digest, or a UUID's hex for a manual alert).
ID_START = re.compile(r"[0-9a-f]+")
# How many ids an ambiguous start lists: one more is fetched, to say there are more.
MAX_LISTED = 10


async def alert_ids_starting(store: HistoryHandle, recent: Recent, start: str) -> list[str]:
    """The ids in the history (or kept live while it is down) that start with ``start``, in order, at
    most MAX_LISTED + 1."""
    if len(start) < schemas.SHORT_ID_CHARS or not ID_START.fullmatch(start):
        return []
    stored = await store.ask(lambda h: h.alert_ids_starting(start, MAX_LISTED + 1)) or []
    live = (alert_id for alert_id in recent.alerts if alert_id.startswith(start))
    return sorted({*stored, *live})[: MAX_LISTED + 1]


def ambiguity(start: str, ids: list[str]) -> str:
    """What an ambiguous start says, one line: how many alerts it names."""
    count = f"more than {MAX_LISTED}" if len(ids) > MAX_LISTED else str(len(ids))
    return f"{count} alerts have an id starting with {start}: give more of it"


def choices_page(frame: Frame, start: str, ids: list[str]) -> str:
    items = "".join(
        f'<li><a href="/alerts/{esc(alert_id)}"><code>{esc(alert_id)}</code></a></li>'
        for alert_id in ids[:MAX_LISTED]
    )
    return layout(
        "Which alert?", frame, f"<h1>Which alert?</h1><p>{esc(ambiguity(start, ids))}.</p><ul>{items}</ul>"
    )
