"""Filters to SQL: ``WHERE`` clauses with parameters (never text pasted into SQL), cursors, search.

Free text matches whole words: SQLite's FTS5 (unicode61 tokens), PostgreSQL's ``tsvector`` with the
'simple' configuration, both over the same ``search_text`` column.
"""

from __future__ import annotations

import re
from typing import Any

from services.history._db import Dialect
from services.history._rows import MAX_LIMIT, AlertQuery, IncidentQuery
from services.history._write import RESOLUTIONS_OF_A, micros

_WORD = re.compile(r"\w")
# ASCII digits only (str.isdigit also takes "²", which int() refuses), at most 18 of them: a time in
# microseconds that both databases' 64-bit integers hold.
_CURSOR = re.compile(r"([0-9]{1,18})~(.+)", re.DOTALL)


class BadCursor(ValueError):
    """A ``before`` cursor this history did not hand out."""


def cursor(at: int, row_id: str) -> str:
    return f"{at}~{row_id}"


def parse_cursor(value: str) -> tuple[int, str]:
    parsed = _CURSOR.fullmatch(value)
    if parsed is None:
        raise BadCursor(f"not a cursor: {value[:40]!r}")
    return int(parsed[1]), parsed[2]


def is_cursor(value: str) -> bool:
    """Whether ``value`` is a cursor a page could have handed out (a list asked with one that is not
    raises ``BadCursor``)."""
    try:
        parse_cursor(value)
    except BadCursor:
        return False
    return True


def fts_match(text: str) -> str:
    """FTS5 query: each whitespace-separated chunk a quoted phrase (so no FTS5 operator gets through)."""
    chunks = [chunk for chunk in text.split() if _WORD.search(chunk)]
    return " ".join('"' + chunk.replace('"', '""') + '"' for chunk in chunks)


def limit_of(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


class Where:
    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)

    def equal(self, column: str, value: str) -> None:
        if value:
            self.add(f"{column} = ?", value)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def _common(
    where: Where,
    dialect: Dialect,
    table: str,
    time_column: str,
    query: AlertQuery | IncidentQuery,
) -> None:
    alias = table[0]
    if query.since is not None:
        where.add(f"{alias}.{time_column} >= ?", micros(query.since))
    if query.until is not None:
        where.add(f"{alias}.{time_column} < ?", micros(query.until))
    for column in ("severity", "category", "status"):
        where.equal(f"{alias}.{column}", getattr(query, column))
    if query.degraded is not None:
        # A literal (0 or 1, never text from a request): only then may the partial index be used.
        where.add(f"{alias}.degraded = {int(query.degraded)}")
    if query.text.strip():
        if dialect == "sqlite":
            match = fts_match(query.text)
            if not match:
                where.add("1 = 0")  # only punctuation: no word can match
            else:
                where.add(f"{alias}.seq IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?)", match)
        else:
            where.add(f"{alias}.search @@ plainto_tsquery('simple', ?)", query.text)
    if query.before is not None:
        at, row_id = parse_cursor(query.before)
        where.add(f"({alias}.{time_column}, {alias}.id) < (?, ?)", at, row_id)


def alert_where(query: AlertQuery, dialect: Dialect) -> Where:
    where = Where()
    _common(where, dialect, "alerts", "received_at", query)
    for column in ("service", "namespace", "analyzer"):
        where.equal(f"a.{column}", getattr(query, column))
    where.equal("a.incident_id", query.incident_id)
    if query.not_incident_id:
        where.add("a.incident_id <> ?", query.not_incident_id)
    if query.still_firing:
        where.add("a.status = 'firing'")
        # The partial index holds the few rows ended_at leaves; of those, one stored after its
        # resolution (out of order) is told by the search, made for these rows only.
        where.add("a.ended_at IS NULL")
        where.add(f"NOT EXISTS (SELECT 1 {RESOLUTIONS_OF_A})")
    return where


def incident_where(query: IncidentQuery, dialect: Dialect) -> Where:
    where = Where()
    _common(where, dialect, "incidents", "updated_at", query)
    return where
