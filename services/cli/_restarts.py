"""When ``aiops up`` starts a process again, and when it gives up: pure decisions, no processes.

Starts of one process are spaced by a delay that doubles from ``first_delay`` up to ``max_delay``; a
run that lasted ``healthy_after`` seconds resets it. The delay counts from the previous start, not from
the exit: what backoff guards against is a process started over and over, so one that crashes on start
waits 1 s, 2 s, 4 s ... between tries, while one that ran longer than its delay (killed mid-run, say) is
started again at once: its work waits for nobody. A process whose first ``tries`` runs
each ended within ``quick_exit`` seconds, or with the configuration error's exit code (2, whenever it
came: a loaded machine may take longer than ``quick_exit`` to read settings), cannot start at all:
restarting it would loop forever, so the supervisor gives up and shows why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.runtime import CONFIG_ERROR_EXIT


@dataclass(frozen=True)
class Restart:
    delay: float
    count: int  # restarts of this process so far, this one included


@dataclass(frozen=True)
class GiveUp:
    tries: int


class RestartPolicy:
    """Tracks one supervised process: call ``started()`` at each start and ``exited()`` at each exit."""

    def __init__(
        self,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        healthy_after: float = 60.0,
        quick_exit: float = 10.0,
        tries: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.healthy_after = healthy_after
        self.quick_exit = quick_exit
        self.tries = tries
        self.clock = clock
        self.restarts = 0
        self._next_delay = first_delay
        self._started_at: float | None = None
        self._runs = 0
        # Once a run outlives quick_exit the process can start; later failures are crashes, restarted forever.
        self._has_started = False

    def started(self) -> None:
        self._started_at = self.clock()
        self._runs += 1

    def exited(self, code: int | None = None) -> Restart | GiveUp:
        assert self._started_at is not None, "exited() before started()"
        ran = self.clock() - self._started_at
        if ran >= self.quick_exit and code != CONFIG_ERROR_EXIT:
            self._has_started = True
        if not self._has_started and self._runs >= self.tries:
            return GiveUp(self._runs)
        if ran >= self.healthy_after:
            self._next_delay = self.first_delay
        spacing = self._next_delay
        self._next_delay = min(spacing * 2, self.max_delay)
        self.restarts += 1
        return Restart(max(0.0, spacing - ran), self.restarts)
