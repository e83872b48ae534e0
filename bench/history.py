"""History: write rate and list/search latency, SQLite and PostgreSQL: ``python -m bench.history``.

Writes: realistic analyses (about 9 KB each: metric points, log templates) go through ``History.write`` in
batches of 256, as the stage writes a fetched batch: encoded, clipped, upserted, indexed, full-text indexed.
The baseline, in the same rounds on the same backend and connection: a raw insert of the same rows (built
beforehand) into a table with only its primary key (``executemany`` on SQLite, multi-row ``VALUES`` on
PostgreSQL, as history itself writes). Floors are ratios of the two (median of paired rounds);
the absolute rates are printed for docs/benchmarks.md (the issue's goals: 3,000/s SQLite, 2,000/s PostgreSQL).

CPU per analysis of the stage's own write path (``bench/_history_cpu.py``), SQLite, in-process: short and long
analyses decoded from their JSON and written as the stage does; printed, not enforced (the pipeline bench's
"history: CPU per alert" row is the figure it explains).

Lists: BENCH_HISTORY_ROWS rows (default 1,000,000, generated with ``executemany``; the indexes are built
after the load, as a restore would) and typical list and search queries timed around ``History.alerts``:
the p95 of each kind is printed (the issue's goal: 150 ms), not enforced.

PostgreSQL is Debian's (tests/support/postgres.py); without it that half is skipped, saying why.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bench._history_cpu import cpu_per_analysis
from bench._history_rows import INSERT, bulk_rows, realistic
from bench._report import heading, percentile, row
from services.history import AlertQuery, History
from services.history._db import Batch, Params, split_statements
from services.history._migrations import migrations
from services.history._write import ALERT_COLUMNS, alert_row
from tests.support.history import T0
from tests.support.postgres import Postgres, postgres_missing

WRITES = int(os.environ.get("BENCH_HISTORY_WRITES", "10000"))
ROWS = int(os.environ.get("BENCH_HISTORY_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = 256
# History writes / the raw insert of the same rows, median of paired rounds. Where the goals sit on the
# machine of docs/benchmarks.md: 3,000/s is about 0.12 of SQLite's raw rate, 2,000/s about 0.2 of
# PostgreSQL's since the raw insert (the same write path) stopped paying psycopg's parse of its
# placeholders; the floors sit below the measured ratios (SQLite 0.11-0.23, PostgreSQL 0.34-0.44) by the
# spread seen between runs.
FLOORS = {"sqlite": 0.08, "postgresql": 0.25}
GOALS = {"sqlite": 3000, "postgresql": 2000}
LATENCY_GOAL_MS = 150.0

Fresh = Callable[[], Awaitable[str]]


def _statements(*sql: str) -> Batch:
    """Statements that take no parameters, each run once, in one transaction."""
    no_parameters: list[Params] = [()]
    return [(statement, no_parameters) for statement in sql]


async def _raw_rate(url: str, rows: list[Params]) -> float:
    history = await History.open(url, migrate=False)
    try:
        blob = "BLOB" if history.db.dialect == "sqlite" else "BYTEA"
        columns = ", ".join(f"{name.strip()} TEXT" for name in ALERT_COLUMNS.split(",")[1:-1])
        columns += f", body {blob}"
        await history.db.run(_statements(f"CREATE TABLE raw (id TEXT PRIMARY KEY, {columns})"))
        insert = INSERT.replace("INTO alerts", "INTO raw")
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            await history.db.run([(insert, rows[start : start + BATCH])])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await history.close()


async def _history_rate(url: str, messages: list[object]) -> float:
    history = await History.open(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(messages), BATCH):
            await history.write(messages[start : start + BATCH])  # type: ignore[arg-type]
        return len(messages) / (time.perf_counter() - started)
    finally:
        await history.close()


async def writes(backend: str, fresh: Fresh) -> bool:
    messages = realistic(WRITES)
    rows = [alert_row(message) for message in messages]
    raw_rates, rates = [], []
    for _ in range(ROUNDS):
        raw_rates.append(await _raw_rate(await fresh(), rows))
        rates.append(await _history_rate(await fresh(), messages))  # type: ignore[arg-type]
    ratio = statistics.median(rate / raw for rate, raw in zip(rates, raw_rates, strict=True))
    rate = statistics.median(rates)
    heading(f"history writes, {backend}: {WRITES} analyses in batches of {BATCH}, {ROUNDS} rounds")
    row("raw insert of the same rows (baseline)", f"{statistics.median(raw_rates):,.0f}/s")
    row("History.write", f"{rate:,.0f}/s", f"goal {GOALS[backend]:,}/s")
    ok = ratio >= FLOORS[backend]
    row("ratio", f"{ratio:.2f}", f"floor {FLOORS[backend]}: {'ok' if ok else 'BELOW'}")
    return ok


def _deferred(dialect: str) -> tuple[list[str], list[str]]:
    """The indexes and triggers on ``alerts`` the migrations leave: dropped during a bulk load, created
    after."""
    created: dict[str, tuple[str, str]] = {}
    for migration in migrations(dialect):
        for statement in split_statements(migration.sql):
            # A statement may start with comment lines.
            if found := re.search(r"^CREATE (INDEX|TRIGGER) (alerts_\w+)", statement, re.MULTILINE):
                created[found[2]] = (statement, f"DROP {found[1]} {found[2]}")
            elif found := re.search(r"^DROP (?:INDEX|TRIGGER) (alerts_\w+)", statement, re.MULTILINE):
                created.pop(found[1], None)
    return [create for create, _ in created.values()], [drop for _, drop in created.values()]


async def load(history: History, count: int) -> float:
    create, drop = _deferred(history.db.dialect)
    started = time.perf_counter()
    await history.db.run(_statements(*drop))
    generated = bulk_rows(count)
    while chunk := [next(generated) for _ in range(min(20_000, count))]:
        count -= len(chunk)
        await history.db.run([(INSERT, chunk)])
    rebuild = _statements(*create)
    if history.db.dialect == "sqlite":
        rebuild += _statements("INSERT INTO alerts_fts (alerts_fts) VALUES ('rebuild')")
    await history.db.run(rebuild)
    await history.db.run(_statements("ANALYZE alerts"))
    return time.perf_counter() - started


def queries() -> dict[str, list[AlertQuery]]:
    last_day = T0 - timedelta(days=1)
    return {
        "list": [
            AlertQuery(),
            AlertQuery(severity="critical"),
            AlertQuery(category="network", namespace="team-3"),
            AlertQuery(service="svc-17"),
            AlertQuery(degraded=True),
            AlertQuery(status="resolved", analyzer="llm"),
            AlertQuery(since=last_day, severity="warning"),
            AlertQuery(until=T0 - timedelta(days=20), limit=200),
        ],
        "search": [
            AlertQuery(text="timeout"),
            AlertQuery(text="word17"),
            AlertQuery(text="HighCPU svc-3"),
            AlertQuery(text="latency", severity="critical"),
            AlertQuery(text="checkout replica"),
            AlertQuery(text="nosuchword"),
        ],
        # The worst case of a filter: a value no row has (a full scan without its index).
        "rare value, none matching": [
            AlertQuery(severity="none"),
            AlertQuery(analyzer="nosuch", status="resolved"),
        ],
    }


async def latency(backend: str, url: str) -> None:
    history = await History.open(url)
    try:
        took = await load(history, ROWS)
        heading(f"history lists, {backend}: {ROWS:,} alerts (loaded in {took:.0f} s)")
        timings: dict[str, list[float]] = {kind: [] for kind in queries()}
        plan = [(kind, query) for kind, some in queries().items() for query in some] * 20
        random.Random(3).shuffle(plan)
        for kind, query in plan:
            started = time.perf_counter()
            page = await history.alerts(query)
            timings[kind].append((time.perf_counter() - started) * 1000)
            if kind == "list" and page.next_cursor and query == AlertQuery():
                started = time.perf_counter()
                await history.alerts(AlertQuery(before=page.next_cursor))
                timings[kind].append((time.perf_counter() - started) * 1000)
        for kind, values in timings.items():
            p95 = percentile(values, 95)
            note = f"median {statistics.median(values):.1f} ms; goal {LATENCY_GOAL_MS:.0f} ms"
            row(f"{kind} p95 ({len(values)} queries)", f"{p95:.1f} ms", note)
    finally:
        await history.close()


async def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        rounds = iter(range(1_000_000))

        async def sqlite_file() -> str:
            return f"sqlite:///{folder}/writes-{next(rounds)}.db"

        ok &= await writes("sqlite", sqlite_file)
        await cpu_per_analysis(folder, BATCH)
        await latency("sqlite", f"sqlite:///{folder}/lists.db")
    missing = postgres_missing()
    if missing:
        heading(f"history, postgresql: skipped ({missing})")
        return 0 if ok else 1
    server = Postgres().init().start()
    try:

        async def reset() -> str:
            server.reset()
            return server.url

        ok &= await writes("postgresql", reset)
        server.reset()
        await latency("postgresql", server.url)
    finally:
        server.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
