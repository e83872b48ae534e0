"""Printing figures the same way in every benchmark."""

from __future__ import annotations

import statistics
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def row(name: str, value: str, note: str = "") -> None:
    print(f"  {name:<44} {value:>16}  {note}")


def heading(title: str) -> None:
    print(f"\n== {title}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """(busy, all) clock ticks of every core so far, from /proc/stat (Linux): what share of the
    machine a run kept busy, idle and waiting on I/O left out."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def waited_for_a_core(pid: int) -> float:
    """Seconds a process's threads so far spent runnable but not running, waiting for a core
    (/proc/<pid>/task/*/schedstat, Linux); NaN where the kernel does not keep it. A thread that
    ended meanwhile is left out."""
    waited = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return float("nan")
    for task in tasks:
        try:
            waited += int((task / "schedstat").read_text().split()[1])
        except FileNotFoundError:
            continue
        except (OSError, IndexError, ValueError):
            return float("nan")
    return waited / 1e9
