"""A real Prometheus serving generated incidents: OpenMetrics → promtool blocks → prometheus.

One hour of 15-second samples, four hours in the past (so blocks are final and the
alert window is never clipped by "now"). The alerts start at minute 30. Patterns:
a CPU spike (node-1), a filesystem filling (node-2), memory climbing to its limit
(shop/cart-0), a container restarting after OOM kills (shop/api-1), a 5xx burst
(job checkout), a rollout at minute 25 (shop/cart, checkout 1.4.0 → 1.5.0), where shop/api-1
runs (kube-state-metrics' pod info, owner and claims), the NFS share behind media/shared-uploads
and the Service behind sso.example.com.
Also used by ``bench/enrichment.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.nats_server import free_port

STEP = 15
SAMPLES = 241  # one hour
MIB = 1024 * 1024


def base_time() -> int:
    """Four hours ago, on a whole hour: blocks are final and stay inside the default retention."""
    return (int(time.time()) - 4 * 3600) // 3600 * 3600


def alert_start(base: int) -> int:
    return base + 30 * 60


def _minute(i: int) -> float:
    return i * STEP / 60


def _counter(rate: Callable[[float], float]) -> list[float]:
    total, values = 0.0, []
    for i in range(SAMPLES):
        total += rate(_minute(i)) * STEP
        values.append(total)
    return values


def _series() -> dict[str, Sequence[float | None]]:
    def cpu(mode: str) -> Callable[[float], float]:
        def spike(m: float) -> bool:
            return 29 <= m < 33  # a four-minute runaway process

        shares = {"user": (0.05, 0.93), "system": (0.03, 0.04), "idle": (0.92, 0.03)}
        quiet, busy = shares[mode]
        return lambda m: busy if spike(m) else quiet

    node1 = 'instance="node-1:9100",job="node"'
    node2 = 'instance="node-2:9100",job="node"'
    cart = 'namespace="shop",pod="cart-0",container="cart"'
    api = 'namespace="shop",pod="api-1",container="api"'
    series: dict[str, Sequence[float | None]] = {}
    for mode in ("user", "system", "idle"):
        series[f'node_cpu_seconds_total{{{node1},cpu="0",mode="{mode}"}}'] = _counter(cpu(mode))
    series[f"node_load1{{{node1}}}"] = [4.0 if 29 <= _minute(i) < 34 else 0.4 for i in range(SAMPLES)]
    fs = f'{node2},device="sda1",fstype="ext4",mountpoint="/var"'
    series[f"node_filesystem_avail_bytes{{{fs}}}"] = [
        40e9 - max(0, _minute(i) - 10) * 0.8e9 for i in range(SAMPLES)
    ]
    series[f"node_filesystem_files_free{{{fs}}}"] = [2_000_000.0 for _ in range(SAMPLES)]
    series[f"container_memory_working_set_bytes{{{cart}}}"] = [
        min(200 * MIB + _minute(i) * 7 * MIB, 511 * MIB) for i in range(SAMPLES)
    ]
    series[f"container_spec_memory_limit_bytes{{{cart}}}"] = [512.0 * MIB for _ in range(SAMPLES)]
    series[f"kube_pod_container_status_restarts_total{{{api}}}"] = [
        float(max(0, int((_minute(i) - 22) // 4) + 1)) if _minute(i) >= 22 else 0.0 for i in range(SAMPLES)
    ]
    series[f'kube_pod_container_status_last_terminated_reason{{{api},reason="OOMKilled"}}'] = [
        1.0 if _minute(i) >= 22 else 0.0 for i in range(SAMPLES)
    ]

    def burst(m: float) -> bool:
        return 28 <= m < 36  # eight minutes of 5xx

    series['http_requests_total{job="checkout",code="200"}'] = _counter(lambda m: 50.0)
    series['http_requests_total{job="checkout",code="500"}'] = _counter(lambda m: 20.0 if burst(m) else 0.1)
    series.update(_rollout())
    series.update(_placement())
    return series


def _placement() -> dict[str, Sequence[float | None]]:
    """kube-state-metrics' view of shop/api-1: on node ip-10-0-1-7, owned by StatefulSet api, mounting
    claim data-api-1 (what places a pod alert without a node label on its node)."""
    ksm = 'job="kube-state-metrics",instance="10.244.3.12:8080"'
    pod = 'namespace="shop",pod="api-1"'
    owner = 'owner_kind="StatefulSet",owner_name="api",owner_is_controller="true"'
    info = 'node="ip-10-0-1-7.eu-west-1.compute.internal",host_ip="10.0.1.7",pod_ip="10.244.5.17"'
    created = 'created_by_kind="StatefulSet",created_by_name="api"'
    claim = 'volume="data",persistentvolumeclaim="data-api-1"'
    return {
        f"kube_pod_info{{{ksm},{pod},{info},{created}}}": [1.0] * SAMPLES,
        f"kube_pod_owner{{{ksm},{pod},{owner}}}": [1.0] * SAMPLES,
        f"kube_pod_spec_volumes_persistentvolumeclaims_info{{{ksm},{pod},{claim}}}": [1.0] * SAMPLES,
        # media/shared-uploads: a volume an NFS provisioner made in a subdirectory of nfs-01's export
        f'kube_persistentvolumeclaim_info{{{ksm},namespace="media",persistentvolumeclaim="shared-uploads",'
        'storageclass="nfs-client",volumename="pvc-3f1c"}': [1.0] * SAMPLES,
        f'kube_persistentvolume_info{{{ksm},persistentvolume="pvc-3f1c",storageclass="nfs-client",'
        'nfs_server="nfs-01.storage.internal",nfs_path="/export/shared/media-shared-uploads-pvc-3f1c"}': [1.0]
        * SAMPLES,
        # sso.example.com is served by auth/keycloak
        f'kube_ingress_path{{{ksm},namespace="auth",ingress="keycloak",host="sso.example.com",path="/",'
        'service_name="keycloak",service_port="8080"}': [1.0] * SAMPLES,
    }


def _rollout() -> dict[str, Sequence[float | None]]:
    """shop/cart rolled out at minute 25: generation 41 → 42, a new ReplicaSet, checkout 1.4.0 → 1.5.0."""
    rolled = [_minute(i) >= 25 for i in range(SAMPLES)]
    cart = 'namespace="shop",deployment="cart"'
    old_rs = 'namespace="shop",replicaset="cart-5d98ffcfd"'
    new_rs = 'namespace="shop",replicaset="cart-7f9c8d6b5"'
    owner = 'owner_kind="Deployment",owner_name="cart"'
    return {
        f"kube_deployment_metadata_generation{{{cart}}}": [42.0 if r else 41.0 for r in rolled],
        f"kube_deployment_status_observed_generation{{{cart}}}": [42.0 if r else 41.0 for r in rolled],
        f"kube_replicaset_owner{{{old_rs},{owner}}}": [1.0] * SAMPLES,
        f"kube_replicaset_owner{{{new_rs},{owner}}}": [1.0 if r else None for r in rolled],
        f"kube_replicaset_created{{{old_rs}}}": [1.7e9] * SAMPLES,
        f"kube_replicaset_created{{{new_rs}}}": [1.8e9 if r else None for r in rolled],
        'checkout_build_info{job="checkout",version="1.4.0",revision="9f2c1e0"}': [
            None if r else 1.0 for r in rolled
        ],
        'checkout_build_info{job="checkout",version="1.5.0",revision="4b7d3aa"}': [
            1.0 if r else None for r in rolled
        ],
    }


def openmetrics(base: int) -> str:
    """The incidents as OpenMetrics text, each series' samples in time order."""
    lines: list[str] = []
    for name_and_labels, values in sorted(_series().items()):
        timed = [(base + i * STEP, value) for i, value in enumerate(values) if value is not None]
        lines.extend(f"{name_and_labels} {value} {at}" for at, value in timed)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def binaries_missing() -> str | None:
    missing = [name for name in ("prometheus", "promtool") if shutil.which(name) is None]
    return f"{' and '.join(missing)} not installed (apt-get install prometheus)" if missing else None


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class IncidentPrometheus:
    url: str
    base: int

    @property
    def starts_at(self) -> int:
        return alert_start(self.base)


@contextmanager
def incident_prometheus(ready_timeout: float = 30.0) -> Iterator[IncidentPrometheus]:
    """Build the TSDB, start Prometheus on a free port, wait for /-/ready, stop it after."""
    base = base_time()
    with tempfile.TemporaryDirectory(prefix="enricher-prom-") as workdir:
        work = Path(workdir)
        source = work / "incidents.om"
        source.write_text(openmetrics(base), encoding="utf-8")
        data = work / "data"
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        config = work / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n", encoding="utf-8")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=30d",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + ready_timeout
            while not _ready(url):
                if process.poll() is not None:
                    output = process.stderr.read().decode()[-2000:] if process.stderr else ""
                    raise RuntimeError(f"prometheus exited: {output}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"prometheus not ready within {ready_timeout}s")
                time.sleep(0.05)
            yield IncidentPrometheus(url=url, base=base)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
