"""Soak: the four services at a steady rate for a long while; memory, files and tasks must stay flat.

    python -m tests.faults.soak [--minutes 20] [--rate 20] [--sample-seconds 10]

After a warm-up, the average RSS of the last window is compared with the first window's
(windows of 5 minutes, shorter in short runs): PASS within 10 %. Open file descriptors PASS when
the last window's median is no higher than the first window's maximum (connections come and go;
a leak climbs); so do asyncio tasks (each service's ``aiops_asyncio_tasks`` on /metrics). Thread
counts are shown. Exits 1 on any FAIL or on a lost or doubled alert.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults._pipeline import Pipeline
from tests.faults._sink import Sink
from tests.faults._tally import jetstream, tally, wait_delivered
from tests.faults._traffic import AlertmanagerClient, steady
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess, open_fds, rss_kib, threads

RSS_TOLERANCE = 0.10


@dataclass
class Samples:
    at: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)

    async def take(self, process: ServiceProcess, elapsed: float) -> None:
        self.at.append(elapsed)
        self.rss.append(rss_kib(process.pid))
        self.fds.append(open_fds(process.pid))
        self.threads.append(threads(process.pid))
        self.tasks.append(int(await process.metric("aiops_asyncio_tasks")))

    def window(self, values: list[int], start: float, end: float) -> list[int]:
        return [v for t, v in zip(self.at, values, strict=True) if start <= t < end]


def windows(minutes: float) -> tuple[float, float, float]:
    """Warm-up end, first window end, last window start (seconds)."""
    total = minutes * 60
    warmup = min(120.0, total / 4)
    length = min(300.0, (total - warmup) / 2)
    return warmup, warmup + length, total - length


def verdicts(samples: dict[str, Samples], minutes: float) -> tuple[list[tuple[str, ...]], bool]:
    warmup, first_end, last_start = windows(minutes)
    rows: list[tuple[str, ...]] = []
    ok = True
    for name, s in samples.items():
        rss_first = statistics.mean(s.window(s.rss, warmup, first_end)) / 1024
        rss_last = statistics.mean(s.window(s.rss, last_start, float("inf"))) / 1024
        change = rss_last / rss_first - 1
        fds_first = max(s.window(s.fds, warmup, first_end))
        fds_last = statistics.median(s.window(s.fds, last_start, float("inf")))
        tasks_first = max(s.window(s.tasks, warmup, first_end))
        tasks_last = statistics.median(s.window(s.tasks, last_start, float("inf")))
        rss_ok, fds_ok, tasks_ok = change <= RSS_TOLERANCE, fds_last <= fds_first, tasks_last <= tasks_first
        ok = ok and rss_ok and fds_ok and tasks_ok
        rows.append((
            name, f"{rss_first:.1f}", f"{rss_last:.1f}", f"{change:+.1%}", "PASS" if rss_ok else "FAIL",
            str(fds_first), f"{fds_last:g}", "PASS" if fds_ok else "FAIL",
            str(tasks_first), f"{tasks_last:g}", "PASS" if tasks_ok else "FAIL",
            f"{s.threads[len(s.threads) // 4]} -> {s.threads[-1]}",
        ))  # fmt: skip
    return rows, ok


def print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("service", "RSS first MiB", "RSS last MiB", "change", "RSS flat", "fds first (max)",
              "fds last (median)", "fds flat", "tasks first (max)", "tasks last (median)", "tasks flat",
              "threads")  # fmt: skip
    cells = [header, *rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


async def soak(minutes: float, rate: float, every: float) -> bool:
    server = NatsServer().start()
    sink = await Sink().start()
    logs = Path(tempfile.mkdtemp(prefix="aiops-soak-"))
    stop = asyncio.Event()
    try:
        async with (
            Pipeline(server.url, logs, {"GENERIC_WEBHOOK_URL": sink.url}) as pipeline,
            AlertmanagerClient(pipeline.ingest_urls) as am,
            jetstream(server.url) as js,
        ):
            print(f"soak: {minutes:g} min at {rate:g} alerts/s; logs in {logs}", flush=True)
            samples = {p.name: Samples() for p in pipeline.processes}
            sending = asyncio.create_task(steady(am, f"soak-{int(time.time())}", rate, stop))
            started = time.monotonic()
            next_report = 60.0
            while (elapsed := time.monotonic() - started) < minutes * 60:
                for process in pipeline.processes:
                    await samples[process.name].take(process, elapsed)
                if elapsed >= next_report:
                    rss = ", ".join(f"{n} {s.rss[-1] / 1024:.0f}" for n, s in samples.items())
                    print(
                        f"  {elapsed / 60:4.1f} min: {sink.delivered():,} notified; RSS MiB {rss}", flush=True
                    )
                    next_report += 60
                await asyncio.sleep(every)  # the sampling period
            stop.set()
            await sending
            await wait_delivered(js, sink, am.accepted_ids, within=120)
            row = await tally("soak", js, sink, am.accepted_ids, None)
    finally:
        await sink.close()
        server.close()
    rows, flat = verdicts(samples, minutes)
    print()
    print_table(rows)
    print(f"\nalerts sent {row.sent:,}, analysed {row.analysed:,}, notified {row.notified:,}, "
          f"lost {row.lost}, duplicated {row.duplicated}")  # fmt: skip
    passed = flat and row.lost == 0 and row.duplicated == 0
    print("PASS" if passed else "FAIL")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to run (default 20)")
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second (default 20)")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="sampling period (default 10)")
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(soak(args.minutes, args.rate, args.sample_seconds)) else 1)


if __name__ == "__main__":
    main()
