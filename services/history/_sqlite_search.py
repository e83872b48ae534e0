"""SQLite's full-text index kept in step with its table, once per batch.

The tables' ``<table>_fts`` (FTS5, external content) once followed them by triggers on every row. FTS5
writes its pending words out at every statement, and each row of an ``executemany`` is one statement:
the triggers made a segment per row and cost more than the row and all of its indexes. Here a batch's
words go in with one statement, in the upsert's transaction.
"""

from __future__ import annotations

import functools
import sqlite3

import msgspec

from services.history._db import Searchable


@functools.cache
def in_sqlite(sql: str) -> str:
    """A statement in SQLite's words: the upserts' "row changed" test (``IS DISTINCT FROM``) exists in
    SQLite only since 3.39 (Ubuntu 22.04 ships 3.37); ``IS NOT`` between row values is the same test
    there, and has been since 3.15."""
    return sql.replace(" IS DISTINCT FROM ", " IS NOT ")


def upsert_searchable(conn: sqlite3.Connection, item: Searchable) -> int:
    """``item``'s upsert and its words indexed; the rows it changed. Rows that existed (a redelivery, a
    replay) first lose the words they were indexed with, then get those of what the table now holds
    (the same words when the stored row was the newer one)."""
    table = item.table
    ids = (msgspec.json.encode([row[0] for row in item.rows]).decode(),)
    of_batch = f"seq, search_text FROM {table} WHERE id IN (SELECT value FROM json_each(?))"
    (existing,) = conn.execute(
        f"SELECT COUNT(*) FROM {table} WHERE id IN (SELECT value FROM json_each(?))", ids
    ).fetchone()
    if existing:
        conn.execute(
            f"INSERT INTO {table}_fts ({table}_fts, rowid, search_text) SELECT 'delete', {of_batch}", ids
        )
        changed = conn.executemany(in_sqlite(item.sql), item.rows).rowcount
        conn.execute(f"INSERT INTO {table}_fts (rowid, search_text) SELECT {of_batch}", ids)
        return changed
    # All new: each insert takes the next ``seq``, so the batch's rows are those above the highest one now.
    (last,) = conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {table}").fetchone()
    changed = conn.executemany(in_sqlite(item.sql), item.rows).rowcount
    conn.execute(
        f"INSERT INTO {table}_fts (rowid, search_text) SELECT seq, search_text FROM {table} WHERE seq > ?",
        (last,),
    )
    return changed
