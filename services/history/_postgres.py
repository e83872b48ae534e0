"""PostgreSQL: psycopg 3, async; a writer and a reader connection, each reopened after it broke."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg

from services.history._db import (
    RECORD_VERSION,
    VERSIONS_TABLE,
    Batch,
    Dialect,
    HistoryUnavailable,
    Migration,
    Params,
    sql_and_rows,
    without_nul,
)


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


@lru_cache(maxsize=64)
def _numbered(sql: str) -> str:
    """``?`` as PostgreSQL's own ``$1, $2, …``, run by a raw cursor: psycopg sends it as is. Given ``%s``,
    psycopg parses a statement in Python, uncached when it is long: with a batch's thousands of
    parameters that parse took more than half of ``History.write``'s time."""
    numbers = itertools.count(1)
    return re.sub(r"\?", lambda _: f"${next(numbers)}", sql)


_ONE_ROW = re.compile(r"VALUES (\((?:\?, )*\?\))")
# PostgreSQL takes at most 65,535 parameters in one statement.
MAX_PARAMETERS = 65_535


@lru_cache(maxsize=4)  # a statement of a full chunk is ~0.5 MB of text; batch sizes repeat
def _many_rows(sql: str, count: int) -> str:
    """``sql``'s ``VALUES`` group repeated ``count`` times, numbered (a batch's size repeats: cached)."""
    found = _ONE_ROW.search(sql)
    assert found is not None
    group = found[1]
    return _numbered(sql[: found.start(1)] + ", ".join([group] * count) + sql[found.end(1) :])


def _statements(sql: str, rows: list[Params]) -> list[tuple[str, Params]]:
    """An INSERT of many rows as multi-row ``VALUES`` statements: one round trip per few thousand rows
    instead of a protocol exchange per row. Callers never repeat a key within one statement (an upsert
    may not touch a row twice), which ``write_batch`` ensures. Other statements run once per row."""
    found = _ONE_ROW.search(sql)
    if found is None:
        return [(_numbered(sql), row) for row in rows]
    per_statement = max(1, MAX_PARAMETERS // (found[1].count("?")))
    out: list[tuple[str, Params]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        out.append((_many_rows(sql, len(chunk)), [value for row in chunk for value in row]))
    return out


# Any value: all that matters is that every history process takes the same lock.
MIGRATION_LOCK = 0x4149_4F50_5348  # "AIOPSH"


class PostgresDatabase:
    """A writer and a reader connection, each reopened on the next call after it broke."""

    dialect: Dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.writer: psycopg.AsyncConnection[Any] | None = None
        self.reader: psycopg.AsyncConnection[Any] | None = None
        self.write_lock = asyncio.Lock()
        self.read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        db = cls(url)
        async with db.write_lock:
            await db._writer()
        return db

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        try:
            # Not prepared: DDL (migrations, an index rebuild) invalidates prepared statements.
            return await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=5, prepare_threshold=None
            )
        except psycopg.Error as exc:
            raise HistoryUnavailable(f"postgresql: {exc}".strip()) from exc

    async def _writer(self) -> psycopg.AsyncConnection[Any]:
        if self.writer is None or self.writer.closed or self.writer.broken:
            self.writer = await self._open()
        return self.writer

    async def _reader(self) -> psycopg.AsyncConnection[Any]:
        if self.reader is None or self.reader.closed or self.reader.broken:
            self.reader = await self._open()
        return self.reader

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self.read_lock:
            conn = await self._reader()
            try:
                cursor = await conn.execute(_pg(sql), without_nul(params))
                return await cursor.fetchall()
            except psycopg.OperationalError as exc:
                raise HistoryUnavailable(f"postgresql: {exc}") from exc

    async def run(self, batch: Batch) -> list[int]:
        async with self.write_lock:
            conn = await self._writer()
            try:
                counts = []
                async with conn.transaction(), psycopg.AsyncRawCursor(conn) as cursor:
                    for item in batch:
                        sql, rows = sql_and_rows(item)
                        if not rows:
                            continue
                        count = 0
                        for statement, params in _statements(sql, rows):
                            # Binary parameters: the body as is, numbers unparsed (a fifth faster).
                            await cursor.execute(statement, params, binary=True)
                            count += max(cursor.rowcount, 0)
                        counts.append(count)
                return counts
            except psycopg.OperationalError as exc:
                raise HistoryUnavailable(f"postgresql: {exc}") from exc

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        async with self.write_lock:
            conn = await self._writer()
            try:
                async with conn.transaction():
                    # Held to the end of the transaction: a second process waits, then sees them applied.
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                    await conn.execute(VERSIONS_TABLE)
                    cursor = await conn.execute("SELECT version FROM schema_migrations")
                    applied = {row[0] for row in await cursor.fetchall()}
                    done = []
                    for migration in migrations:
                        if migration.version in applied:
                            continue
                        await conn.execute(migration.sql)  # a script: no parameters
                        await conn.execute(_pg(RECORD_VERSION), (migration.version, migration.name))
                        done.append(migration.version)
                    return done
            except psycopg.OperationalError as exc:
                raise HistoryUnavailable(f"postgresql: {exc}") from exc

    async def close(self) -> None:
        for conn in (self.writer, self.reader):
            if conn is not None and not conn.closed:
                await conn.close()
