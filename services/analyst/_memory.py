"""The analyst's memory: similar past incidents from history, for the LLM prompt.

On only when DATABASE_URL is set (the history the history service writes). A lookup that is slow or
fails costs the prompt its memory, never the analysis: the analyst answers without it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from loguru import logger

import schemas
from services.runtime import SettingsPart, doc

if TYPE_CHECKING:
    # Imported when memory is on: the analyst's settings stay free of the database drivers.
    from services.history import History, Memory

# Characters of one cause or fix in the prompt: the gist, not the whole postmortem.
TEXT_LIMIT = 300


class MemorySettings(SettingsPart, kw_only=True, frozen=True):
    database_url: Annotated[
        str,
        doc(
            "History database (sqlite:///… or postgresql://…): when set, the LLM prompt lists similar past"
            " incidents with the causes people confirmed; empty: no memory",
            secret=True,
        ),
    ] = ""
    memory_timeout_seconds: Annotated[
        float, doc("How long the analyst waits for similar past incidents before prompting without them")
    ] = 1.0
    memory_size: Annotated[int, doc("Similar past incidents given to the LLM at most")] = 3


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def prompt_items(memory: Memory) -> list[dict[str, Any]]:
    """The recalled incidents as the prompt shows them, most relevant first."""
    items = []
    for r in memory.recalled:
        item: dict[str, Any] = {
            "when": r.past.received_at.strftime("%Y-%m-%d"),
            "alert": r.past.alertname,
            "same_rule": r.same_family,
            "similarity": r.similarity,
            "judged": r.standing,
            "category": r.category,
        }
        if r.cause:
            item["cause"] = _clip(r.cause)
        if r.fix:
            item["fix"] = _clip(r.fix)
        items.append(item)
    return items


class PastIncidents:
    def __init__(self, history: History, settings: MemorySettings) -> None:
        self.history = history
        self.settings = settings

    @classmethod
    async def open(cls, settings: MemorySettings) -> PastIncidents:
        from services.history import History

        # The history service owns the schema: the analyst reads what is there.
        return cls(await History.open(settings.database_url, migrate=False), settings)

    async def close(self) -> None:
        await self.history.close()

    async def for_prompt(self, message: schemas.EnrichedAlert) -> list[dict[str, Any]]:
        """Similar past incidents for ``message``'s prompt; none when history does not answer in time."""
        from services.history import recall

        try:
            async with asyncio.timeout(self.settings.memory_timeout_seconds):
                memory = await recall(self.history, message, limit=self.settings.memory_size)
        except Exception as exc:
            logger.warning("no memory for {}: history did not answer ({})", message.id, type(exc).__name__)
            return []
        return prompt_items(memory)
