"""Live updates: a core NATS subscription on analyses and incident events, fanned out to every open
page as server-sent events, and the recent messages kept for when the database is down.

Core NATS, not a durable consumer: a page only wants what happens while it is open (the history
holds the rest), and a console that restarts must not leave a consumer behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec
from loguru import logger
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

import schemas
from services.console._filters import Filters
from services.console._rows import (
    alert_row,
    alert_status,
    alert_text,
    alert_tr,
    ended_at_of,
    firing_of,
    incident_link,
    incident_row,
    incident_text,
    incident_tr,
)
from services.history import AlertRow, IncidentRow, Known, Page, as_the_history_knows

# Events a slow page may fall behind by before it is dropped (it reconnects and reloads).
CLIENT_QUEUE = 256


@dataclass(frozen=True)
class LiveEvent:
    # "alert" or "incident": a row for the top of its list, ``{"id", "row", "html"}`` (the row as JSON for
    # API clients, and rendered, escaped, exactly as the list renders it); "cells": cells of rows a page
    # shows already, rendered anew (``cells_event``).
    kind: str
    data: bytes  # the event's JSON, encoded once for every page
    matches: Callable[[Filters], bool]  # whether a page's Filters want it


class _Members:
    """What the console saw of one kept incident's members resolve: what the history's rule reads
    (``Known``) for the incidents whose latest event it received."""

    def __init__(self) -> None:
        # When its members whose resolution arrived ended, by their firing message's id (the members'
        # ``alert_id``): the rule reads the listed ones.
        self.ended: dict[str, datetime] = {}
        # Those whose resolution first arrived after its latest event: the event counted them firing.
        # A resolution published before the event may be counted in it, and is left out (the count errs
        # towards firing, as the history's does), as is a resolution sent again.
        self.since_event: set[str] = set()

    def resolved(self, incident: schemas.Incident, resolution: schemas.AnalyzedAlert) -> None:
        # The id the member has: ``schemas.alert_id`` of the same episode firing (manual alerts, with ids
        # of their own, are not found and stay counted as the event counted them).
        member_id = schemas.firing_id(schemas.episode_key(resolution.alert))
        listed_resolved = any(m.alert_id == member_id and m.status == "resolved" for m in incident.members)
        if member_id not in self.ended and not listed_resolved:
            self.since_event.add(member_id)
        self.ended.setdefault(member_id, ended_at_of(resolution))

    def known(self, incident: schemas.Incident) -> Known:
        """As the history would hold it: the members its event counts resolved, and those seen since."""
        ended_count = incident.member_count - incident.firing_count + len(self.since_event)
        return Known(ended=self.ended, ended_count=ended_count)


class Recent:
    """The last messages seen, by id: what the console serves when the database is down."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.alerts: OrderedDict[str, schemas.AnalyzedAlert] = OrderedDict()
        self.incidents: OrderedDict[str, schemas.IncidentEvent] = OrderedDict()
        # When the episodes (schemas.episode_key) of the kept resolutions ended: their firing rows are
        # not firing any more. An episode has one resolution id: it goes when that message does.
        self.ended: dict[str, datetime] = {}
        # Titles of the incidents open or recent when the console started, from the history (once, when
        # it answers): the live rows of their alerts name them before their next event.
        self.titles: dict[str, str] = {}
        self.titles_loaded = False
        # Of each kept incident, what the history would know of its members beyond its latest event
        # (``_Members``), from the resolutions seen since: its count follows them, by the history's rule.
        self.members: dict[str, _Members] = {}

    def keep_alert(self, message: schemas.AnalyzedAlert) -> None:
        self.alerts[message.id] = message
        self.alerts.move_to_end(message.id)
        if message.alert.status == "resolved":
            self.ended[schemas.episode_key(message.alert)] = ended_at_of(message)
            kept = self.incidents.get(message.incident.id) if message.incident else None
            if kept is not None:
                self.members[kept.incident.id].resolved(kept.incident, message)
        while len(self.alerts) > self.size:
            _, dropped = self.alerts.popitem(last=False)
            if dropped.alert.status == "resolved":
                self.ended.pop(schemas.episode_key(dropped.alert), None)

    def keep_incident(self, event: schemas.IncidentEvent) -> None:
        known = self.incidents.get(event.incident.id)
        if known is not None and known.sequence > event.sequence:
            return
        self.incidents[event.incident.id] = event
        self.incidents.move_to_end(event.incident.id)
        self.members.setdefault(event.incident.id, _Members()).since_event.clear()
        while len(self.incidents) > self.size:
            dropped, _ = self.incidents.popitem(last=False)
            self.members.pop(dropped, None)

    def incident_title(self, incident_id: str) -> str:
        """The kept incident's title (its latest event's), else the history's when the console started,
        "" when neither is known."""
        event = self.incidents.get(incident_id)
        return event.incident.title if event is not None else self.titles.get(incident_id, "")

    def incident_row(self, event: schemas.IncidentEvent) -> IncidentRow:
        """The event's row as the history would list it: its firing count less the members seen resolve
        since (``as_the_history_knows``, the history's one rule)."""
        row = incident_row(event)
        members = self.members.get(event.incident.id)
        if members is None or row.firing_count == 0:
            return row
        _, firing = as_the_history_knows(event.incident, members.known(event.incident))
        return msgspec.structs.replace(row, firing_count=firing)

    def alert_row(self, message: schemas.AnalyzedAlert) -> AlertRow:
        """The message's row as the history would list it, from what the console has seen."""
        alert = message.alert
        ended = self.ended.get(schemas.episode_key(alert)) if alert.status == "firing" else None
        title = self.incident_title(message.incident.id) if message.incident else ""
        return alert_row(message, ended_at=ended, incident_title=title)

    def alert_page(self, f: Filters, limit: int = 50) -> Page[AlertRow]:
        """The kept alerts a filtered list would show, newest first."""
        kept = ((self.alert_row(m), m) for m in reversed(self.alerts.values()))
        rows = (row for row, m in kept if f.matches_alert(row, alert_text(m)))
        return Page(items=list(itertools.islice(rows, limit)))

    def incident_page(self, f: Filters, limit: int = 20) -> Page[IncidentRow]:
        kept = ((self.incident_row(e), e) for e in reversed(self.incidents.values()))
        rows = (row for row, e in kept if f.matches_incident(row, incident_text(e)))
        return Page(items=list(itertools.islice(rows, limit)))


# Where the titles of the incidents open or recent come from: None while the history cannot answer.
Titles = Callable[[], Awaitable[dict[str, str] | None]]


class LiveHub:
    def __init__(self, recent: Recent, titles: Titles | None = None) -> None:
        self.recent = recent
        self.clients: set[asyncio.Queue[LiveEvent | None]] = set()
        self._subscriptions: list[Subscription] = []
        self._titles = titles
        self._loading: asyncio.Task[None] | None = None
        # Incidents whose alerts went out named by id while the titles were loading: renamed once loaded.
        self._untitled: set[str] = set()

    async def start(self, nc: Client) -> None:
        self._subscriptions = [
            await nc.subscribe(schemas.ANALYZED, cb=self._on_alert),
            await nc.subscribe(schemas.INCIDENTS, cb=self._on_incident),
        ]
        self._load_titles()

    def _load_titles(self) -> None:
        """Load the titles of the incidents open or recent in the background: a live row never waits for
        the database (a slow one would hold every page's stream behind it); until they come it names its
        incident by id, and is renamed when they do."""
        loading = self._loading is not None and not self._loading.done()
        if self._titles is None or self.recent.titles_loaded or loading:
            return
        self._loading = asyncio.create_task(self._titles_loaded(self._titles))

    async def _titles_loaded(self, titles: Titles) -> None:
        try:
            loaded = await titles()
        except Exception as exc:  # not the database being down (None): asking again would fail alike
            logger.warning("live: incident titles not loaded, rows name incidents by id: {}", str(exc)[:200])
            self.recent.titles_loaded = True
            return
        if loaded is None:
            return  # the database is down (the banner says so): the next alert that needs a title asks again
        self.recent.titles.update(loaded)
        self.recent.titles_loaded = True
        for incident_id in self._untitled:
            if title := self.recent.incident_title(incident_id):
                self.publish(
                    cells_event("incident", incident_id, "incident", incident_link(incident_id, title))
                )
        self._untitled.clear()

    async def stop(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        for queue in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)  # ends the page's stream

    def subscribe(self) -> asyncio.Queue[LiveEvent | None]:
        queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(CLIENT_QUEUE)
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent | None]) -> None:
        self.clients.discard(queue)

    def publish(self, event: LiveEvent) -> None:
        for queue in list(self.clients):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.clients.discard(queue)  # too slow: its stream ends, the browser reconnects
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def _on_alert(self, msg: Msg) -> None:
        try:
            message = schemas.decode(msg.data, schemas.AnalyzedAlert)
        except (schemas.DecodeError, schemas.ValidationError) as exc:
            logger.warning("live: skipped an undecodable analysis: {}", str(exc)[:200])
            return
        self.recent.keep_alert(message)
        incident_id = message.incident.id if message.incident else ""
        if incident_id and not self.recent.titles_loaded and not self.recent.incident_title(incident_id):
            if len(self._untitled) < self.recent.size:
                self._untitled.add(incident_id)
            self._load_titles()
        self.publish(alert_event(self.recent.alert_row(message), alert_text(message)))
        if message.alert.status == "resolved":
            # The firing row of its episode a page shows reads resolved, as after a reload, and its
            # incident's row counts one member fewer firing (when the console holds its latest event).
            ended = alert_status("firing", ended_at_of(message))
            self.publish(cells_event("episode", schemas.episode_key(message.alert), "status", ended))
            kept = self.recent.incidents.get(message.incident.id) if message.incident else None
            if kept is not None:
                firing = firing_of(self.recent.incident_row(kept))
                self.publish(cells_event("id", kept.incident.id, "firing", firing))

    async def _on_incident(self, msg: Msg) -> None:
        try:
            event = schemas.decode(msg.data, schemas.IncidentEvent)
        except (schemas.DecodeError, schemas.ValidationError) as exc:
            logger.warning("live: skipped an undecodable incident event: {}", str(exc)[:200])
            return
        self.recent.keep_incident(event)
        self.publish(incident_event(self.recent.incident_row(event), event))
        # Its alerts shown so far may name it by its id (they are published before it is announced), or
        # by a title its growth has changed since: they read as a reload would show them.
        incident_id = event.incident.id
        link = incident_link(incident_id, self.recent.incident_title(incident_id))
        self.publish(cells_event("incident", incident_id, "incident", link))


def _row_data(row: AlertRow | IncidentRow, html: str) -> bytes:
    return msgspec.json.encode({"id": row.id, "row": row, "html": html})


def alert_event(row: AlertRow, text: str) -> LiveEvent:
    """``text``: what free-text search looks in (``alert_text``)."""
    return LiveEvent("alert", _row_data(row, alert_tr(row)), lambda f: f.matches_alert(row, text))


def incident_event(row: IncidentRow, event: schemas.IncidentEvent) -> LiveEvent:
    """``row``: the event's, as the history would list it (``Recent.incident_row``)."""
    text = incident_text(event)
    return LiveEvent("incident", _row_data(row, incident_tr(row)), lambda f: f.matches_incident(row, text))


def cells_event(rows: str, key: str, cell: str, html: str) -> LiveEvent:
    """In each row a page shows whose ``data-<rows>`` is ``key``, the cell of class ``cell`` becomes
    ``html`` (rendered by ``_rows``, escaped). Every page gets it: one without such a row changes nothing,
    and a row a page's filters let through may name any incident."""
    data = msgspec.json.encode({"rows": rows, "key": key, "cell": cell, "html": html})
    return LiveEvent("cells", data, lambda _: True)
