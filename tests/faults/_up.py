"""``aiops up`` as a subprocess: its output lines a test can wait for, and its children's pids.

The supervisor announces every child it starts (``aiops: started enricher (pid 4242)``); those lines
are how a test finds the process to kill, and when the replacement came up.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

from tests.support.nats_server import free_port
from tests.support.processes import BASE_ENV, REPO

STARTED = re.compile(r"aiops: started (\w+) \(pid (\d+)\)")
STAGES = ("enricher", "analyst", "notifier")


class Up:
    """``aiops up --data DATA`` in its own session, so a test can signal the whole group."""

    def __init__(self, env: dict[str, str], data: Path) -> None:
        self.env = env
        self.data = data
        # Each line with the monotonic time it was read: restart times are measured from these.
        self.lines: list[tuple[float, str]] = []
        self.changed = asyncio.Condition()

    async def __aenter__(self) -> Up:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "up", "--data", str(self.data), cwd=REPO, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        self.reader.cancel()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self.changed:
                self.lines.append((time.monotonic(), line.decode(errors="replace")))
                self.changed.notify_all()
        async with self.changed:
            self.lines.append((time.monotonic(), ""))  # end of output
            self.changed.notify_all()

    def _matches(self, pattern: str) -> list[tuple[float, re.Match[str]]]:
        return [(at, m) for at, line in self.lines if (m := re.search(pattern, line))]

    async def wait_for(self, pattern: str, within: float, count: int = 1) -> list[re.Match[str]]:
        """The first ``count`` lines matching ``pattern``, waiting for them up to ``within`` seconds."""
        return [m for _, m in await self.wait_timed(pattern, within, count)]

    async def wait_timed(
        self, pattern: str, within: float, count: int = 1
    ) -> list[tuple[float, re.Match[str]]]:
        """As ``wait_for``, each match with the monotonic time its line was read."""

        def found() -> list[tuple[float, re.Match[str]]]:
            matches = self._matches(pattern)
            ended = bool(self.lines) and self.lines[-1][1] == ""
            assert len(matches) >= count or not ended, f"no {pattern!r} in:\n{self.output()[-3000:]}"
            return matches

        try:
            async with asyncio.timeout(within), self.changed:
                await self.changed.wait_for(lambda: len(found()) >= count)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} after {within}s:\n{self.output()[-3000:]}") from None
        return found()[:count]

    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def started(self) -> list[tuple[str, int]]:
        return [(m[1], int(m[2])) for _, m in self._matches(STARTED.pattern)]

    def pid(self, name: str) -> int:
        """The pid of ``name``'s latest start."""
        return [pid for n, pid in self.started() if n == name][-1]


def up_env(nats_url: str | None, **extra: str) -> tuple[dict[str, str], dict[str, int]]:
    """Free ports for ingest and each stage; ``nats_url`` None lets ``aiops up`` run its own nats-server
    (on free ports too, under ``ports["nats"]``)."""
    ports = {name: free_port() for name in ("ingest", "console", "history", *STAGES)}
    env = {
        **os.environ,
        **BASE_ENV,
        "INGEST_PORT": str(ports["ingest"]),
        "CONSOLE_PORT": str(ports["console"]),
    }
    env.pop("NATS_URL", None)
    if nats_url is None:
        ports["nats"], ports["nats_monitor"] = free_port(), free_port()
        env.update(NATS_PORT=str(ports["nats"]), NATS_MONITOR_PORT=str(ports["nats_monitor"]))
    else:
        env["NATS_URL"] = nats_url
    for name in (*STAGES, "history"):
        env[f"{name.upper()}_HEALTH_PORT"] = str(ports[name])
    env.update(extra)
    return env, ports


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
