"""Wiring: one ``History`` per process, shared by the three consumers (analyses, incident events,
verdicts), each writing one transaction per fetched batch; retention runs beside them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from loguru import logger
from prometheus_client import Counter

import schemas
from services.history._db import DatabaseUnusable, HistoryUnavailable
from services.history._queries import History
from services.history._settings import HistorySettings
from services.history._write import Received
from services.runtime import ConfigError, Handler, Runtime, StageSpec

Kind = Literal["alerts", "incidents", "feedback"]


class _Group:
    """Messages of the batches that arrived while another transaction ran: written together."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.written = False
        self.error: Exception | None = None


class BatchWriter:
    """``prepare`` writes a batch in one transaction; ``handle`` then only confirms each message.

    Batches fetched while a transaction runs join one group, written by the next transaction: a
    lagging consumer writes fewer, bigger transactions, each row cheaper, instead of queueing small
    ones. The database unreachable fails the whole group (each message retried: nothing is lost). Any
    other error (a row the database refuses) sends its batches down one message at a time, so only the
    offending message is retried and, at ``max_deliver``, dead-lettered.
    """

    def __init__(self, history: History, kind: Kind, rows: Counter) -> None:
        self.history = history
        self.kind = kind
        self.rows = rows.labels(table=kind)
        self.written: set[int] = set()
        self.lock = asyncio.Lock()
        self.open: _Group | None = None

    async def prepare(self, messages: list[Any]) -> None:
        if not messages:
            return
        group = self.open = self.open or _Group()
        group.messages.extend(messages)
        async with self.lock:
            # Whoever gets the lock first writes the group (cancelled meanwhile: the next one does).
            if not group.written:
                if self.open is group:
                    self.open = None
                try:
                    await self.history.write(**{self.kind: group.messages})
                except Exception as exc:
                    group.error = exc
                group.written = True
        if isinstance(group.error, HistoryUnavailable):
            raise group.error
        if group.error is not None:
            logger.warning(
                "{}: batch of {} refused ({}); writing one by one", self.kind, len(messages), group.error
            )
            return
        self.written.update(id(message) for message in messages)
        self.rows.inc(len(messages))

    async def handle(self, message: Any) -> None:
        if id(message) in self.written:
            self.written.discard(id(message))
            return
        await self.history.write(**{self.kind: [message]})
        self.rows.inc()


async def open_history(settings: HistorySettings) -> History:
    """Open (and migrate), waiting for the database up to ``database_connect_seconds``; a database that
    can never work as configured is a ConfigError at once."""
    deadline = time.monotonic() + settings.database_connect_seconds
    while True:
        try:
            return await History.open(settings.database_url)
        except DatabaseUnusable as exc:
            raise ConfigError(f"DATABASE_URL: {exc}") from exc
        except HistoryUnavailable as exc:
            if time.monotonic() >= deadline:
                raise
            logger.warning("history database not reachable yet ({}); retrying", exc)
            await asyncio.sleep(1.0)


async def keep_retention(history: History, days: int, interval: float) -> None:
    while True:
        try:
            deleted = await history.purge(datetime.now(UTC) - timedelta(days=days))
        except Exception as exc:  # the next round tries again; writing goes on meanwhile
            logger.warning("retention: cannot delete old rows ({}: {})", type(exc).__name__, exc)
        else:
            if deleted:
                logger.info("deleted {} rows older than {} days", deleted, days)
        await asyncio.sleep(interval)


# One History per serving process (the three consumers' builds run one after another in it).
_shared: dict[int, tuple[History, Counter]] = {}


async def _history(settings: HistorySettings, runtime: Runtime) -> tuple[History, Counter]:
    key = id(runtime)
    if key not in _shared:
        history = await open_history(settings)
        rows = Counter(
            "history_rows_written", "Rows upserted into history", ["table"], registry=runtime.registry
        )
        _shared[key] = (history, rows)

        async def close() -> None:
            _shared.pop(key, None)
            await history.close()

        runtime.on_close(close)
        if settings.history_retention_days > 0:
            task = asyncio.create_task(
                keep_retention(
                    history, settings.history_retention_days, settings.history_purge_interval_seconds
                )
            )

            async def stop_retention() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            runtime.on_close(stop_retention)
    return _shared[key]


def _received(data: bytes) -> Received:
    return Received(schemas.decode(data, schemas.AnalyzedAlert), data)


def _builder(kind: Kind) -> Any:
    async def build(settings: HistorySettings, runtime: Runtime) -> Handler:
        history, rows = await _history(settings, runtime)
        writer = BatchWriter(history, kind, rows)
        # A write is one round trip per batch, made in ``prepare``: the handler itself waits on nothing.
        # An analysis is validated as any stage's input, and its row keeps the JSON it came as (encoding
        # it again cost as much as the rest of its row).
        decode = _received if kind == "alerts" else None
        return Handler(writer.handle, inline=True, prepare=writer.prepare, decode=decode)

    return build


SPEC: StageSpec[schemas.AnalyzedAlert, HistorySettings] = StageSpec(
    name="history",
    input_subject=schemas.ANALYZED,
    input_type=schemas.AnalyzedAlert,
    output_subject=None,
    build=_builder("alerts"),
    companions=(
        StageSpec(
            name="history-incidents",
            input_subject=schemas.INCIDENTS,
            input_type=schemas.IncidentEvent,
            output_subject=None,
            build=_builder("incidents"),
        ),
        StageSpec(
            name="history-feedback",
            input_subject=schemas.FEEDBACK,
            input_type=schemas.Feedback,
            output_subject=None,
            build=_builder("feedback"),
        ),
    ),
)
