"""The console in-process on a real nats-server and an SQLite history file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

import schemas
from services.history import History


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


@pytest.fixture
async def history(database_url: str) -> AsyncIterator[History]:
    opened = await History.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


async def store(
    history: History,
    alerts: Sequence[schemas.AnalyzedAlert] = (),
    incidents: Sequence[schemas.IncidentEvent] = (),
) -> None:
    await history.write(alerts=alerts, incidents=incidents)
