"""A service's CPU priority on a host it shares with the other stages (``PROCESS_NICE``).

On one host (``aiops up``, the benchmark), every stage's process gets an equal share of the cores from
the kernel's scheduler. Under a flood that starves the stage that limits it: the analyst does most of
the work per alert, while ingest and the enricher, which do little, race ahead of it and only fill its
queue in the stream. Once they have passed the flood on, the analyst works alone on one core and the
other core idles. Given a lower priority, the light stages take what the analyst leaves, the cores stay
busy to the end and the flood passes sooner (docs/deployment.md, "Stages sharing a host"). Where each
stage has its own CPU (Kubernetes requests, separate machines), niceness changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

_TASKS = Path("/proc/self/task")  # Linux: a thread's niceness is its own, so each is set


def yield_cpu(nice: int) -> str | None:
    """``nice`` added to this process's niceness: every thread it has now, and so every thread it
    starts later (a thread takes its creator's). Called before the service starts its own threads
    and its logging; it returns why the system refused (the service then runs as it was), else None."""
    if nice <= 0:
        return None
    try:
        threads = [int(task.name) for task in _TASKS.iterdir()] if _TASKS.is_dir() else []
        if not threads:
            os.nice(nice)
        for thread in threads:
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(current + nice, 19))
    except OSError as exc:
        return f"PROCESS_NICE={nice} not applied ({exc}); running at the niceness it started with"
    return None
