"""Refilling history from the stream (``aiops history rebuild``): stored messages in, batched upserts out.

Upserts make it safe to run beside the history stage and to run twice: nothing is duplicated, an
incident keeps its latest event, a target its latest verdict.
"""

from __future__ import annotations

from typing import Any

import schemas
from services.history._queries import History
from services.history._write import Received

BATCH = 256

# Subject (as a filter) -> what it carries and which ``History.write`` argument takes it.
SOURCES: dict[str, tuple[type[Any], str]] = {
    schemas.ANALYZED: (schemas.AnalyzedAlert, "alerts"),
    schemas.INCIDENTS: (schemas.IncidentEvent, "incidents"),
    schemas.FEEDBACK: (schemas.Feedback, "feedback"),
}


class Rebuilder:
    """``add`` each stored message of one source; ``flush`` at the end. Undecodable ones are counted."""

    def __init__(self, history: History, source: str) -> None:
        self.history = history
        self.message_type, self.argument = SOURCES[source]
        self.pending: list[Any] = []
        self.written = 0
        self.skipped = 0

    async def add(self, data: bytes) -> None:
        try:
            message = schemas.decode(data, self.message_type)
        except (schemas.DecodeError, schemas.ValidationError):
            self.skipped += 1
            return
        # An analysis keeps the JSON it was stored as, as the stage keeps the one it received.
        self.pending.append(Received(message, data) if self.argument == "alerts" else message)
        if len(self.pending) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        if self.pending:
            await self.history.write(**{self.argument: self.pending})
            self.written += len(self.pending)
            self.pending = []
