"""CPU per analysis of the history stage's own work, in-process, SQLite.

What the stage does with a fetched batch: each message decoded and validated from the JSON it arrived as,
its row built (clipped, body kept as it came or compressed, search text), the batch upserted with its
indexes and full-text words in one transaction. Process time, so SQLite's worker thread counts; best and
median of the rounds, and the file's bytes per row once written. A figure to read next to the pipeline
bench's "history: CPU per alert" row, which adds nats-py receiving and acknowledging each message.
"""

from __future__ import annotations

import time
from pathlib import Path

import schemas
from bench._history_rows import realistic, unenriched
from bench._report import heading, median, row
from services.history import History
from services.history._write import Received

COUNT = 4000
ROUNDS = 5


async def _round(path: Path, datas: list[bytes], batch: int) -> float:
    history = await History.open(f"sqlite:///{path}")
    try:
        started = time.process_time()
        for start in range(0, len(datas), batch):
            received = [
                Received(schemas.decode(data, schemas.AnalyzedAlert), data)
                for data in datas[start : start + batch]
            ]
            await history.write(received)
        return (time.process_time() - started) / len(datas) * 1e6
    finally:
        await history.close()


async def cpu_per_analysis(folder: str, batch: int) -> None:
    heading(f"history stage's write path, sqlite: CPU per analysis, {COUNT} analyses, batches of {batch}")
    kinds = (
        ("short analyses (2 KB: no metrics or logs)", unenriched(COUNT)),
        ("long analyses (9 KB: metric points, logs)", realistic(COUNT)),
    )
    for n, (name, messages) in enumerate(kinds):
        datas = [schemas.encode(message) for message in messages]
        paths = [Path(folder) / f"cpu-{n}-{round_}.db" for round_ in range(ROUNDS)]
        cpu = [await _round(path, datas, batch) for path in paths]
        size = paths[-1].stat().st_size / len(datas)
        row(
            name,
            f"{min(cpu):.0f} µs",
            f"median {median(cpu):.0f} µs, {ROUNDS} rounds; {size:,.0f} bytes a row",
        )
