"""The Query API: one ``History`` per process, SQLite or PostgreSQL behind it (docs/history.md).

Every method may raise ``HistoryUnavailable`` when the database cannot be reached; a list filter
with a cursor it did not hand out raises ``BadCursor`` (a ``ValueError``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

import schemas
from services.history import _stats
from services.history._db import Database, Params, connect
from services.history._filters import alert_where, cursor, incident_where, limit_of
from services.history._members import Known, as_the_history_knows
from services.history._migrations import migrate as apply_migrations
from services.history._rows import (
    AlertQuery,
    AlertRow,
    IncidentQuery,
    IncidentRow,
    Page,
    RuleNoise,
    Stats,
)
from services.history._write import ENDED_BY_RESOLUTION, Received, message_of, micros, moment, write_batch

M = TypeVar("M")

# When a firing row's episode ended (NULL while it fires, and on a resolution's own row): as recorded with
# the resolution, or found by the search when the firing row was stored after it.
ENDED_AT = f"COALESCE(a.ended_at, CASE WHEN a.status = 'firing' THEN {ENDED_BY_RESOLUTION} END)"

ALERT_SELECT = (
    "SELECT a.id, a.received_at, a.alertname, a.status, a.severity, a.namespace, a.service, a.category,"
    " a.summary, a.analyzer, a.degraded, a.incident_id, a.confidence, COALESCE(f.verdict, ''),"
    f" {ENDED_AT},"
    " COALESCE(i.title, ''), a.fingerprint, a.starts_at"
    " FROM alerts a LEFT JOIN feedback f ON f.target_id = a.id"
    " LEFT JOIN incidents i ON a.incident_id <> '' AND i.id = a.incident_id"
)
INCIDENT_SELECT = (
    "SELECT i.id, i.updated_at, i.sequence, i.status, i.title, i.severity, i.opened_at, i.resolved_at,"
    " i.category, i.summary, i.member_count, i.firing_count, i.llm_calls, i.degraded,"
    " COALESCE(f.verdict, ''), i.body FROM incidents i LEFT JOIN feedback f ON f.target_id = i.id"
)
# Of the members a page of incidents lists as firing, all at once: their incident and when they ended. By
# the id alone, one lookup of its index each: beside a.status = 'firing', a long list made SQLite read
# the status index's every firing row instead.
MEMBERS_ENDED = f"SELECT a.id, a.incident_id, {ENDED_AT} FROM alerts a WHERE a.id IN ({{marks}})"
# Of each incident, counted over all of its alert rows (read by the incident's index, never returned): how
# many there are, and how many of its members ended. The ended_at recorded with the resolution alone: a
# firing row stored after its resolution (deliveries out of order, rare) is found by ENDED_AT row by row,
# a search per still-firing member of a storm; uncounted, it leaves the event's count as it was.
MEMBERS_COUNTED = (
    "SELECT a.incident_id, COUNT(*), SUM(CASE WHEN a.status = 'firing' AND a.ended_at IS NOT NULL"
    " THEN 1 ELSE 0 END) FROM alerts a WHERE a.incident_id IN ({marks}) GROUP BY a.incident_id"
)
# The titles a console needs when it starts (once, in the background): the open ones and the recent ones
# asked apart, each read along its own index (incidents_status, incidents_updated) as far as the limit,
# where "open OR recent" walked every incident row.
INCIDENT_TITLES = (
    "SELECT id, title, updated_at FROM"
    " (SELECT id, title, updated_at FROM incidents WHERE status = 'open' ORDER BY updated_at DESC LIMIT ?)"
    " AS open_ones"
    " UNION SELECT id, title, updated_at FROM"
    " (SELECT id, title, updated_at FROM incidents WHERE updated_at >= ? ORDER BY updated_at DESC LIMIT ?)"
    " AS recent_ones"
    " ORDER BY updated_at DESC LIMIT ?"
)
# How many member alerts an incident page lists at most.
MAX_INCIDENT_ALERTS = 1000
# The ids starting with a prefix, read as a range of the id's unique index (never a scan): from the
# prefix to the prefix with its last character's successor. The substr test keeps the answer exact
# whatever the column's collation orders between the two.
ALERT_IDS_STARTING = (
    "SELECT id FROM alerts WHERE id >= ? AND id < ? AND substr(id, 1, ?) = ? ORDER BY id LIMIT ?"
)


def _alert_row(row: tuple[Any, ...]) -> AlertRow:
    return AlertRow(
        id=row[0],
        received_at=moment(row[1]),
        alertname=row[2],
        status=row[3],
        severity=row[4],
        namespace=row[5],
        service=row[6],
        category=row[7],
        summary=row[8],
        analyzer=row[9],
        degraded=bool(row[10]),
        incident_id=row[11],
        confidence=float(row[12]),
        feedback=row[13],
        ended_at=None if row[14] is None else moment(row[14]),
        incident_title=row[15],
        episode=schemas.episode_of(row[16], moment(row[17])),
    )


def _incident_row(row: tuple[Any, ...]) -> IncidentRow:
    return IncidentRow(
        id=row[0],
        updated_at=moment(row[1]),
        sequence=row[2],
        status=row[3],
        title=row[4],
        severity=row[5],
        opened_at=moment(row[6]),
        resolved_at=None if row[7] is None else moment(row[7]),
        category=row[8],
        summary=row[9],
        member_count=row[10],
        firing_count=row[11],
        llm_calls=row[12],
        degraded=bool(row[13]),
        feedback=row[14],
    )


class History:
    """Writes and reads the history; safe to share among the tasks of one process."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> History:
        """Connect (``sqlite:///path`` or ``postgresql://…``) and apply pending migrations."""
        db = await connect(url)
        if migrate:
            try:
                await apply_migrations(db)
            except BaseException:
                await db.close()
                raise
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def write(
        self,
        alerts: Sequence[schemas.AnalyzedAlert | Received] = (),
        incidents: Sequence[schemas.IncidentEvent] = (),
        feedback: Sequence[schemas.Feedback] = (),
    ) -> None:
        """All of them in one transaction, each upserted by id (an alert ``Received`` is stored as the
        JSON it arrived as)."""
        await self.db.run(write_batch(list(alerts), list(incidents), list(feedback)))

    async def alerts(self, query: AlertQuery) -> Page[AlertRow]:
        """Newest first (``received_at``), filtered; ``next_cursor`` continues where the page ends."""
        where = alert_where(query, self.db.dialect)
        limit = limit_of(query.limit)
        sql = f"{ALERT_SELECT}{where.sql()} ORDER BY a.received_at DESC, a.id DESC LIMIT ?"
        rows = await self.db.fetch(sql, [*where.params, limit + 1])
        items = [_alert_row(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items=items, next_cursor=cursor(rows[limit - 1][1], items[-1].id) if more else None)

    async def incidents(self, query: IncidentQuery, *, firing_as_known: bool = True) -> Page[IncidentRow]:
        """Most recently updated first, filtered; ``next_cursor`` continues where the page ends.

        ``firing_as_known``: each row's ``firing_count`` as the incident's page shows it (two more
        queries); False: as its last event announced it, for a reader that does not show it."""
        where = incident_where(query, self.db.dialect)
        limit = limit_of(query.limit)
        sql = f"{INCIDENT_SELECT}{where.sql()} ORDER BY i.updated_at DESC, i.id DESC LIMIT ?"
        rows = await self.db.fetch(sql, [*where.params, limit + 1])
        items = [_incident_row(row) for row in rows[:limit]]
        if firing_as_known:
            items = await self._still_firing(items, rows)
        more = len(rows) > limit
        return Page(items=items, next_cursor=cursor(rows[limit - 1][1], items[-1].id) if more else None)

    async def _still_firing(self, items: list[IncidentRow], rows: list[tuple[Any, ...]]) -> list[IncidentRow]:
        """The rows with the firing count each incident's page shows (``as_the_history_knows``), not its
        last event's (an incident firing nothing is not looked into: the count only goes down)."""
        firing = {
            item.id: message_of(bytes(row[15]), schemas.IncidentEvent).incident
            for item, row in zip(items, rows, strict=False)
            if item.firing_count > 0
        }
        known = await self.members_known(list(firing.values()))
        return [
            msgspec.structs.replace(
                item, firing_count=as_the_history_knows(firing[item.id], known[item.id])[1]
            )
            if item.id in firing
            else item
            for item in items
        ]

    async def members_known(self, incidents: Sequence[schemas.Incident]) -> dict[str, Known]:
        """What the history holds of these incidents' members since their events, by incident id: two
        queries however many incidents and members (none for no incident)."""
        if not incidents:
            return {}
        ended: defaultdict[str, dict[str, datetime]] = defaultdict(dict)
        ids = [m.alert_id for incident in incidents for m in incident.members if m.status == "firing"]
        if ids:
            for alert_id, incident_id, ended_at in await self.db.fetch(
                MEMBERS_ENDED.format(marks=", ".join("?" * len(ids))), ids
            ):
                if ended_at is not None:
                    ended[incident_id][alert_id] = moment(ended_at)
        incident_ids = [incident.id for incident in incidents]
        counted = {
            incident_id: (int(alerts), int(ended_count or 0))
            for incident_id, alerts, ended_count in await self.db.fetch(
                MEMBERS_COUNTED.format(marks=", ".join("?" * len(incident_ids))), incident_ids
            )
        }
        known = {}
        for incident_id in incident_ids:
            alerts, ended_count = counted.get(incident_id, (0, 0))
            known[incident_id] = Known(ended=ended[incident_id], ended_count=ended_count, alerts=alerts)
        return known

    async def incident_titles(self, since: datetime, limit: int) -> dict[str, str]:
        """The titles of the incidents still open or updated since ``since``, by id: the most recently
        updated ``limit`` of them, in one query."""
        rows = await self.db.fetch(INCIDENT_TITLES, [limit, micros(since), limit, limit])
        return {incident_id: title for incident_id, title, _ in rows}

    async def _body(self, sql: str, key: str, kind: type[M]) -> M | None:
        rows = await self.db.fetch(sql, [key])
        return None if not rows else message_of(bytes(rows[0][0]), kind)

    async def alert(self, alert_id: str) -> schemas.AnalyzedAlert | None:
        """The whole message as stored (over-long values clipped)."""
        return await self._body("SELECT body FROM alerts WHERE id = ?", alert_id, schemas.AnalyzedAlert)

    async def alert_ids_starting(self, prefix: str, limit: int = 10) -> list[str]:
        """The ids of the alerts whose id starts with ``prefix`` (non-empty), in order, at most ``limit``."""
        after_prefix = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        params = [prefix, after_prefix, len(prefix), prefix, limit]
        return [row[0] for row in await self.db.fetch(ALERT_IDS_STARTING, params)]

    async def incident(self, incident_id: str) -> schemas.IncidentEvent | None:
        """The incident's latest event."""
        return await self._body("SELECT body FROM incidents WHERE id = ?", incident_id, schemas.IncidentEvent)

    async def incident_alerts(self, incident_id: str) -> list[AlertRow]:
        """The incident's alerts in the order they arrived (a timeline), at most 1,000 (how many there are,
        and what the history knows of them: ``members_known``)."""
        sql = f"{ALERT_SELECT} WHERE a.incident_id = ? ORDER BY a.received_at, a.id LIMIT ?"
        return [_alert_row(row) for row in await self.db.fetch(sql, [incident_id, MAX_INCIDENT_ALERTS])]

    async def feedback_for(self, target_id: str) -> schemas.Feedback | None:
        """The latest verdict on an alert or an incident."""
        return await self._body("SELECT body FROM feedback WHERE target_id = ?", target_id, schemas.Feedback)

    async def stats(self, days: int) -> Stats:
        """The last ``days`` UTC days, today included."""
        return await _stats.stats(self.db, days)

    async def noisiest(self, days: int, limit: int = 20) -> list[RuleNoise]:
        """The rules that fired most over the last ``days`` days, with their flaps and quick resolutions."""
        return await _stats.noisiest(self.db, days, limit)

    async def purge(self, older_than: datetime) -> int:
        """Delete what is older (alerts received, incidents last updated, verdicts given); rows deleted."""
        cutoff: list[Params] = [(micros(older_than),)]
        counts = await self.db.run(
            [
                ("DELETE FROM alerts WHERE received_at < ?", cutoff),
                ("DELETE FROM incidents WHERE updated_at < ?", cutoff),
                ("DELETE FROM feedback WHERE given_at < ?", cutoff),
            ]
        )
        return sum(max(count, 0) for count in counts)
