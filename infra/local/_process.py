"""Starting Debian's monitoring binaries as child processes and waiting until they answer."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A binary is missing, exited early or never became ready; the message says which."""


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass (readiness has no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def ensure_port_free(port: int, flag: str) -> None:
    """Fail before starting: a busy port would otherwise make an old server look like ours."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(
                f"port {port} is already in use; stop what listens there or pass {flag}"
            ) from exc


def start(name: str, argv: list[str], log: Path) -> Child:
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Child(name, process, log)


def wait_ready(child: Child, ready_url: str, timeout: float) -> None:
    """Return once ``ready_url`` answers 200; raise with the log's tail if the child dies or stalls."""

    def ready_or_dead() -> bool:
        return child.process.poll() is not None or answers_ok(ready_url)

    became = wait_until(ready_or_dead, timeout)
    if child.process.poll() is not None:
        raise StackError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
    if not became:
        raise StackError(f"{child.name} not ready at {ready_url} after {timeout:.0f}s:\n{child.log_tail()}")


def stop(children: list[Child], grace: float = 10.0) -> None:
    """SIGTERM everyone first so they shut down in parallel, then kill what outlives the grace period."""
    for child in children:
        if child.process.poll() is None:
            child.process.terminate()
    for child in children:
        try:
            child.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


__all__ = [
    "Child",
    "StackError",
    "answers_ok",
    "ensure_port_free",
    "start",
    "stop",
    "wait_ready",
    "wait_until",
]
