"""Progress of long operator work (replay, dead-letter redrive): count, rate and ETA.

On a terminal a rich progress bar; elsewhere (a pipe, a log file, CI) a plain line every
``AIOPS_PROGRESS_SECONDS`` (default 5), because a redrawn bar is garbage in a file. The total comes
from the stream before the work starts (how many messages the window holds), so the ETA is real.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import schemas

DEFAULT_PLAIN_SECONDS = 5.0


def plain_line(what: str, done: int, total: int | None, elapsed: float) -> str:
    """``replay: 1,200/5,000 (24%) 350/s, ETA 11 s`` — what a log file gets instead of a bar."""
    rate = done / elapsed if elapsed > 0 else 0.0
    if total is None:
        return f"{what}: {done:,} so far, {rate:,.0f}/s"
    percent = 100 * done / total if total else 100
    # Whole seconds: an estimate that reads "12.7 s" claims more than it knows.
    eta = f", ETA {schemas.duration(round((total - done) / rate))}" if rate > 0 and done < total else ""
    return f"{what}: {done:,}/{total:,} ({percent:.0f}%) {rate:,.0f}/s{eta}"


class _Rate(ProgressColumn):
    """Messages per second; rich's own speed column speaks bytes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("  -/s" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


class Tracker:
    """``with Tracker("replay") as t: t.start(total); ...; t.advance()``; ``t.note(line)`` shows a line."""

    def __init__(self, what: str, file: TextIO | None = None, plain_seconds: float | None = None) -> None:
        self.what = what
        self.console = Console(file=file or sys.stdout, highlight=False)
        self.terminal = self.console.is_terminal
        env = os.environ.get("AIOPS_PROGRESS_SECONDS", "")
        self.plain_seconds = (
            plain_seconds if plain_seconds is not None else float(env or DEFAULT_PLAIN_SECONDS)
        )
        self.done = 0
        self.total: int | None = None
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Tracker:
        if self.terminal:
            self._bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _Rate(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=None)
        return self

    def start(self, total: int) -> None:
        """The number of messages to go through, known from the stream."""
        self.total = total
        self._started = self._last_line = time.monotonic()
        if self._bar is not None and self._task is not None:
            self._bar.reset(self._task, total=total)
        else:
            self._write(f"{self.what}: {total:,} message(s) to go through")

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, count)
            return
        now = time.monotonic()
        if now - self._last_line >= self.plain_seconds:
            self._last_line = now
            self._write(plain_line(self.what, self.done, self.total, now - self._started))

    def note(self, line: str) -> None:
        """A line of the command's own output: printed above the bar, never through it."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self._write(line)

    def _write(self, line: str) -> None:
        self.console.file.write(line + "\n")
        self.console.file.flush()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None and self._task is not None:
            # A window that ended before its estimate (--until) is complete all the same.
            self._bar.update(self._task, total=self.done, completed=self.done)
            self._bar.stop()
