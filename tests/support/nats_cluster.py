"""The three-node JetStream cluster of ``infra/nats/cluster-*.conf``, on free loopback ports.

The shipped configuration files are used as they are, with only their ports moved, so a
test exercises what users run and never collides with a cluster already running.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from services.cli._supervisor import nats_server_binary
from tests.support.nats_server import free_port

REPO = Path(__file__).resolve().parents[2]
NODES = ("a", "b", "c")
# The ports the shipped files use: clients, monitoring, routes.
SHIPPED = {"a": (14222, 18222, 16222), "b": (14223, 18223, 16223), "c": (14224, 18224, 16224)}


class NatsCluster:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {node: (free_port(), free_port(), free_port()) for node in NODES}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """All three client URLs, as NATS_URL takes them."""
        return ",".join(f"nats://127.0.0.1:{self.ports[node][0]}" for node in NODES)

    def _config(self, node: str) -> str:
        text = (REPO / f"infra/nats/cluster-{node}.conf").read_text()
        for name in NODES:
            for shipped, ours in zip(SHIPPED[name], self.ports[name], strict=True):
                text = re.sub(rf"127\.0\.0\.1:{shipped}\b", f"127.0.0.1:{ours}", text)
        return text

    def start(self, node: str | None = None) -> None:
        for name in [node] if node else NODES:
            path = self.workdir / f"cluster-{name}.conf"
            path.write_text(self._config(name))
            log = (self.workdir / f"nats-{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [nats_server_binary(), "-c", str(path)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, server_name: str) -> str:
        """SIGKILL the node called ``server_name`` (e.g. aiops-b); returns its letter."""
        node = server_name.removeprefix("aiops-")
        self.processes[node].kill()
        self.processes[node].wait(10)
        return node

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def jsz(self, node: str) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.ports[node][1]}/jsz"
            with urllib.request.urlopen(url, timeout=1) as response:
                loaded: dict[str, Any] = json.load(response)
                return loaded
        except (OSError, ValueError):
            return None

    def has_meta_leader(self) -> bool:
        running = [node for node, process in self.processes.items() if process.poll() is None]
        views = {f"aiops-{node}": self.jsz(node) for node in running}
        if not views or any(
            view is None or not view.get("meta_cluster", {}).get("leader") for view in views.values()
        ):
            return False
        leader = next(iter(views.values()))["meta_cluster"]["leader"]  # type: ignore[index]
        leader_view = views.get(leader)
        if leader_view is None:
            return False
        current = [
            r
            for r in leader_view["meta_cluster"].get("replicas", [])
            if r.get("current") and not r.get("offline")
        ]
        return len(current) >= len(running) - 1

    async def wait_for_meta_leader(self, within: float = 30.0) -> None:
        """Until every running node knows the leader and the leader hears every running node:
        an R3 stream created earlier fails with "no suitable peers for placement"."""
        async with asyncio.timeout(within):
            while not await asyncio.to_thread(self.has_meta_leader):
                await asyncio.sleep(0.1)
