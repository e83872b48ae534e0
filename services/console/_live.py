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
from collections.abc import Callable
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
    incident_link,
    incident_row,
    incident_text,
    incident_tr,
)
from services.history import AlertRow, IncidentRow, Page

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


class Recent:
    """The last messages seen, by id: what the console serves when the database is down."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.alerts: OrderedDict[str, schemas.AnalyzedAlert] = OrderedDict()
        self.incidents: OrderedDict[str, schemas.IncidentEvent] = OrderedDict()
        # When the episodes (schemas.episode_key) of the kept resolutions ended: their firing rows are
        # not firing any more. An episode has one resolution id: it goes when that message does.
        self.ended: dict[str, datetime] = {}

    def keep_alert(self, message: schemas.AnalyzedAlert) -> None:
        self.alerts[message.id] = message
        self.alerts.move_to_end(message.id)
        if message.alert.status == "resolved":
            self.ended[schemas.episode_key(message.alert)] = ended_at_of(message)
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
        while len(self.incidents) > self.size:
            self.incidents.popitem(last=False)

    def incident_title(self, incident_id: str) -> str:
        """The kept incident's title (its latest event's), "" when none is kept."""
        event = self.incidents.get(incident_id)
        return event.incident.title if event is not None else ""

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
        kept = ((incident_row(e), e) for e in reversed(self.incidents.values()))
        rows = (row for row, e in kept if f.matches_incident(row, incident_text(e)))
        return Page(items=list(itertools.islice(rows, limit)))


class LiveHub:
    def __init__(self, recent: Recent) -> None:
        self.recent = recent
        self.clients: set[asyncio.Queue[LiveEvent | None]] = set()
        self._subscriptions: list[Subscription] = []

    async def start(self, nc: Client) -> None:
        self._subscriptions = [
            await nc.subscribe(schemas.ANALYZED, cb=self._on_alert),
            await nc.subscribe(schemas.INCIDENTS, cb=self._on_incident),
        ]

    async def stop(self) -> None:
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
        self.publish(alert_event(self.recent.alert_row(message), alert_text(message)))
        if message.alert.status == "resolved":
            # The firing row of its episode a page shows reads resolved, as after a reload.
            ended = alert_status("firing", ended_at_of(message))
            self.publish(cells_event("episode", schemas.episode_key(message.alert), "status", ended))

    async def _on_incident(self, msg: Msg) -> None:
        try:
            event = schemas.decode(msg.data, schemas.IncidentEvent)
        except (schemas.DecodeError, schemas.ValidationError) as exc:
            logger.warning("live: skipped an undecodable incident event: {}", str(exc)[:200])
            return
        self.recent.keep_incident(event)
        self.publish(incident_event(event))
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


def incident_event(event: schemas.IncidentEvent) -> LiveEvent:
    row = incident_row(event)
    text = incident_text(event)
    return LiveEvent("incident", _row_data(row, incident_tr(row)), lambda f: f.matches_incident(row, text))


def cells_event(rows: str, key: str, cell: str, html: str) -> LiveEvent:
    """In each row a page shows whose ``data-<rows>`` is ``key``, the cell of class ``cell`` becomes
    ``html`` (rendered by ``_rows``, escaped). Every page gets it: one without such a row changes nothing,
    and a row a page's filters let through may name any incident."""
    data = msgspec.json.encode({"rows": rows, "key": key, "cell": cell, "html": html})
    return LiveEvent("cells", data, lambda _: True)
