"""Services as real OS processes (``python -m services.<name>``) that a test can SIGKILL and restart.

Each process gets its own health port (chosen here, so a restart keeps it) and writes its
log to a file the test can search afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from services.cli._probes import parse_metrics
from tests.support.nats_server import free_port

REPO = Path(__file__).resolve().parents[2]


async def metric_at(url: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` on ``url``'s /metrics whose labels include ``labels`` (0 if none)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    samples = parse_metrics(text).get(name, [])
    return sum(value for held, value in samples if labels.items() <= held.items())


async def wait_ready(
    url: str,
    within: float,
    name: str,
    *,
    alive: Callable[[], bool] = lambda: True,
    log: Callable[[], str] = lambda: "",
) -> float:
    """Wait until ``url``/readyz answers 200; returns the seconds it took. Fails at once when
    ``alive()`` says the process is gone, and after ``within`` seconds, with the end of ``log()``."""
    started = time.monotonic()
    deadline = started + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if not alive():
                raise AssertionError(f"{name} exited:\n{log()[-3000:]}")
            try:
                async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{name} not ready after {within}s:\n{log()[-3000:]}")


# What a quiet, fast test process needs; each scenario adds its own settings.
BASE_ENV = {
    "HEALTH_HOST": "127.0.0.1",
    "INGEST_HOST": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
    "PROMETHEUS_URL": "",
    "LOKI_URL": "",
    "LLM_API_KEY": "",
    "DEEPSEEK_API_KEY": "",
    "SLACK_WEBHOOK_URL": "",
    "GENERIC_WEBHOOK_URL": "",
}


class ServiceProcess:
    """One service process; ``name`` tells replicas apart, ``service`` is the module to run."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path, name: str | None = None) -> None:
        self.service = service
        self.name = name or service
        self.port = free_port()
        port_var = "INGEST_PORT" if service == "ingest" else "HEALTH_PORT"
        self.env = {**os.environ, **BASE_ENV, **env, port_var: str(self.port)}
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def start(self) -> ServiceProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.service}"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight work is simply gone."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_ready(self, within: float = 60.0) -> float:
        """Wait until /readyz answers 200; returns the seconds it took."""
        return await wait_ready(self.url, within, self.name, alive=self.alive, log=self.log)

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        return await metric_at(self.url, name, **labels)


def rss_kib(pid: int) -> int:
    return _status_field(pid, "VmRSS")


def niceness(pid: int) -> set[int]:
    """The niceness of each of a process's threads (Linux: a thread's is its own)."""
    return {os.getpriority(os.PRIO_PROCESS, int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()}


def threads(pid: int) -> int:
    return _status_field(pid, "Threads")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")
