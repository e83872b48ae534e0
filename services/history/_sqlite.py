"""SQLite: one connection used by one worker thread, so the event loop never waits on the disk."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from services.history._db import (
    RECORD_VERSION,
    VERSIONS_TABLE,
    Batch,
    DatabaseUnusable,
    Dialect,
    HistoryUnavailable,
    Migration,
    Params,
    Searchable,
    split_statements,
    sql_and_rows,
    without_nul,
)
from services.history._sqlite_search import in_sqlite, upsert_searchable

R = TypeVar("R")


_OUTAGES = (sqlite3.OperationalError, sqlite3.InternalError)


class SqliteDatabase:
    """One connection, used only by one thread: the event loop never waits on the disk."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-sqlite")
        self.conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        db = cls(path)
        await db._call(db._connect)
        return db

    def _connect(self) -> None:
        if self.path != ":memory:":
            directory = Path(self.path).parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnusable(
                    f"cannot create {directory} for the SQLite database {self.path}: {exc.strerror}"
                ) from exc
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.OperationalError as exc:
            # Raised only when the file cannot be opened or created (a lock or a busy file shows later).
            raise DatabaseUnusable(f"cannot open the SQLite database {self.path}: {exc}") from exc
        # Taken by a new file only (an existing one keeps its pages). A short analysis' row (2-3 KB, its
        # body uncompressed) took a 4 KB page alone; three share 8 KB: 28% fewer bytes a row, and less
        # CPU to write them (docs/benchmarks.md "History").
        conn.execute("PRAGMA page_size=8192")
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        # 64 MB of pages: at a million rows the filter indexes' hot pages stay in memory.
        conn.execute("PRAGMA cache_size=-65536")
        self.conn = conn

    async def _call(self, fn: Callable[[], R]) -> R:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
        except sqlite3.DatabaseError as exc:
            # An outage: the database's operation or state failing, or the file itself (the base class:
            # "file is not a database", "database disk image is malformed"). The other subclasses are
            # about the statement or its data.
            if type(exc) is sqlite3.DatabaseError or isinstance(exc, _OUTAGES):
                raise HistoryUnavailable(f"sqlite: {exc}") from exc
            raise

    def _db(self) -> sqlite3.Connection:
        if self.conn is None:
            raise HistoryUnavailable("sqlite: closed")
        return self.conn

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await self._call(lambda: self._db().execute(sql, without_nul(params)).fetchall())

    def _transaction(self, work: Callable[[sqlite3.Connection], R], begin: str = "BEGIN") -> R:
        conn = self._db()
        conn.execute(begin)
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def run(self, batch: Batch) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            counts = []
            for item in batch:
                sql, rows = sql_and_rows(item)
                if not rows:
                    continue
                if isinstance(item, Searchable):
                    counts.append(upsert_searchable(conn, item))
                else:
                    counts.append(conn.executemany(in_sqlite(sql), rows).rowcount)
            return counts

        # IMMEDIATE: the write lock before the first read (the full-text upkeep reads first), so another
        # process' write (a rebuild, the console's verdicts) is waited for instead of failing the batch.
        return await self._call(lambda: self._transaction(work, "BEGIN IMMEDIATE"))

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            conn.execute(VERSIONS_TABLE)
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            done = []
            for migration in migrations:
                if migration.version in applied:
                    continue
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(RECORD_VERSION, (migration.version, migration.name))
                done.append(migration.version)
            return done

        # IMMEDIATE takes the write lock at once: a second process waits (timeout), then sees them applied.
        return await self._call(lambda: self._transaction(work, "BEGIN IMMEDIATE"))

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            await asyncio.get_running_loop().run_in_executor(self.executor, conn.close)
        self.executor.shutdown(wait=False)


def _switch_to_wal(conn: sqlite3.Connection, within: float = 30.0) -> None:
    """WAL lets the console read while history writes. Switching to it answers "database is locked" at
    once, without waiting on the busy timeout, while another process opening the same new file holds
    its lock (processes starting together): try again for a while."""
    deadline = time.monotonic() + within
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
