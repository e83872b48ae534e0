"""Both backends for every history test: an SQLite file, and a real PostgreSQL started here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.history import History
from tests.support.postgres import Postgres, postgres_missing


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    missing = postgres_missing()
    if missing:
        pytest.skip(missing)
    server = Postgres().init().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    server.reset()
    return server.url


@pytest.fixture
async def history(database_url: str) -> AsyncIterator[History]:
    opened = await History.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()
