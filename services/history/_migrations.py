"""Versioned migrations: ``migrations/<backend>/000N_<name>.sql``, applied in order at start-up.

A table ``schema_migrations`` records the applied versions; applying is idempotent and one process at a
time (SQLite's write lock, PostgreSQL's advisory lock), so replicas starting together are safe.
"""

from __future__ import annotations

from importlib import resources

from services.history._db import Database, Migration


def migrations(dialect: str) -> list[Migration]:
    folder = resources.files("services.history") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append(Migration(int(version), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(db: Database) -> list[int]:
    """The versions applied now (empty when the database was up to date)."""
    return await db.migrate(migrations(db.dialect))
