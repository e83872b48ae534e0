"""The two backends behind one small interface: SQLite (``_sqlite``: the standard library, in a worker
thread of its own) and PostgreSQL (``_postgres``: psycopg 3, async).

SQL is written once with ``?`` placeholders; PostgreSQL gets ``%s``. Every failure to reach or use the
database surfaces as ``HistoryUnavailable``, so the stage retries the batch and the console says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Protocol

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]


class Searchable(NamedTuple):
    """An upsert into a table with free-text search over its ``search_text``, each row's first column its
    ``id``. PostgreSQL runs it as any statement (its search column is generated); SQLite also keeps the
    table's full-text index (``<table>_fts``) in step, in the same transaction."""

    table: str
    sql: str
    rows: list[Params]


# Statements and the parameter rows each runs with (executemany), in one transaction.
Batch = list[tuple[str, list[Params]] | Searchable]


def sql_and_rows(item: tuple[str, list[Params]] | Searchable) -> tuple[str, list[Params]]:
    return (item.sql, item.rows) if isinstance(item, Searchable) else item


# PostgreSQL's text cannot hold NUL: a stored text has U+FFFD in its place, and so has a value a query
# compares with one (an id or a filter from a URL may carry a NUL, which FTS5 refuses too).
NUL_STAND_IN = "\ufffd"


def without_nul(params: Params) -> Params:
    if not any(isinstance(value, str) and "\x00" in value for value in params):
        return params
    return [value.replace("\x00", NUL_STAND_IN) if isinstance(value, str) else value for value in params]


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations"
    " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
RECORD_VERSION = (
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, CAST(CURRENT_TIMESTAMP AS TEXT))"
)


class HistoryUnavailable(Exception):
    """The database cannot be reached or refused the work; it is worth trying again later."""


class DatabaseUnusable(HistoryUnavailable):
    """The database cannot work as DATABASE_URL names it (an SQLite file that cannot be created or
    opened there): no retry will help. Unavailable still, for a reader that only reports it."""


class Database(Protocol):
    dialect: Dialect

    async def fetch(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def run(self, batch: Batch) -> list[int]:
        """Each statement over its rows, all in one transaction; the rows each one changed."""
        ...

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not applied yet, each in a transaction, one process at a time;
        the versions this call applied."""
        ...

    async def close(self) -> None: ...


def sqlite_path(url: str) -> str:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``."""
    path = url.removeprefix("sqlite://")
    return path[1:] if path.startswith("/") else path


def backend_of(url: str) -> Dialect:
    """Which backend a DATABASE_URL names; ValueError saying what is accepted otherwise."""
    if url.startswith("sqlite://"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ValueError(f"DATABASE_URL must start with sqlite:// or postgresql://, not {url.split(':')[0]!r}")


async def connect(url: str) -> Database:
    # Each backend module imports this one: imported here, when the URL says which.
    if backend_of(url) == "sqlite":
        from services.history._sqlite import SqliteDatabase

        return await SqliteDatabase.open(sqlite_path(url))
    from services.history._postgres import PostgresDatabase

    return await PostgresDatabase.open(url)


def split_statements(sql: str) -> list[str]:
    """A script's statements; a trigger's body (``BEGIN … END;``) stays whole."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    code = [line for line in current.splitlines() if line.strip() and not line.strip().startswith("--")]
    if code:
        statements.append(current.strip())
    return statements
