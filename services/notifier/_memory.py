"""A line of memory in notifications: how often the alert fired this week, what people said caused it.

"fired 3 times this week; last confirmed cause: a leak in the PDF renderer, fixed by rolling back"
— from history (services.history), only when DATABASE_URL is set. A lookup slower than a second or
failing costs the message its line, never its delivery.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from loguru import logger

import schemas
from services.runtime import SettingsPart, doc

if TYPE_CHECKING:
    from services.history import History

TIMEOUT_SECONDS = 1.0


class MemorySettings(SettingsPart, kw_only=True, frozen=True):
    database_url: Annotated[
        str,
        doc(
            "History database (sqlite:///… or postgresql://…): when set, alert messages say how often the"
            " alert fired this week and the last cause people confirmed",
            secret=True,
        ),
    ] = ""


class MemoryLines:
    def __init__(self, history: History, timeout: float = TIMEOUT_SECONDS) -> None:
        self.history = history
        self.timeout = timeout

    @classmethod
    async def open(cls, database_url: str) -> MemoryLines:
        from services.history import History

        # The history service owns the schema: the notifier reads what is there.
        return cls(await History.open(database_url, migrate=False))

    async def close(self) -> None:
        await self.history.close()

    async def line(self, message: schemas.AnalyzedAlert) -> str:
        from services.history import recall

        try:
            async with asyncio.timeout(self.timeout):
                return (await recall(self.history, message, limit=5)).line
        except Exception as exc:
            logger.warning(
                "no memory line for {}: history did not answer ({})", message.id, type(exc).__name__
            )
            return ""
