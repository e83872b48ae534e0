"""Five independent failures at once, as kube-prometheus names their alerts and Alertmanager sends
them: two node outages with their pods and scrape targets, a database outage with its dependants'
error and latency alerts, a full shared volume, an expired certificate. Each cause's own alerts come
first, then the alerts it causes, spread evenly until the end of the storm.

Sizes are the scenario's (thousands of alerts per cause, more pods than a node really runs); the
labels are what the alerts really carry.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from tests.faults._traffic import AlertmanagerClient

CLUSTER = "prod"
# Kubernetes' pod-name alphabet (no vowels), so pod names read as the real ones do.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"
KSM = {"job": "kube-state-metrics", "container": "kube-state-metrics", "instance": "10.0.5.12:8080"}

Labels = dict[str, str]
# One alert: its labels and its summary.
Alert = tuple[Labels, str]


@dataclass(frozen=True)
class Cause:
    name: str
    roots: tuple[Alert, ...]  # what failed: sent when the cause starts
    member: Callable[[int], Alert]  # the n-th alert it causes


def _token(*parts: object, size: int = 5) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:size])


def _pod(workload: str, *salt: object) -> str:
    return f"{workload}-{_token(workload, size=9)}-{_token(workload, *salt)}"


def node_outage(address: str, workloads: tuple[str, ...]) -> Cause:
    node = f"ip-{address.replace('.', '-')}.eu-west-1.compute.internal"
    roots: tuple[Alert, ...] = (
        ({"alertname": "KubeNodeNotReady", "node": node, "condition": "Ready", "status": "true",
          **KSM, "severity": "warning"}, f"{node} has been unready for more than 15 minutes."),
        ({"alertname": "KubeNodeUnreachable", "node": node, "key": "node.kubernetes.io/unreachable",
          "effect": "NoSchedule", **KSM, "severity": "warning"}, f"{node} is unreachable."),
        # Prometheus' own example rule (up == 0), per target; kube-prometheus' TargetDown sums by job.
        ({"alertname": "InstanceDown", "job": "kubelet", "service": "kubelet", "namespace": "kube-system",
          "instance": f"{address}:10250", "metrics_path": "/metrics/cadvisor", "node": node,
          "severity": "warning"}, "The kubelet target on the node is down."),
        ({"alertname": "InstanceDown", "job": "node-exporter", "service": "node-exporter",
          "namespace": "monitoring", "instance": f"{address}:9100", "container": "kube-rbac-proxy",
          "endpoint": "https", "pod": f"node-exporter-{_token(node)}", "severity": "warning"},
         "The node-exporter target on the node is down."),
    )  # fmt: skip

    def member(n: int) -> Alert:
        # Pods carry their node as rules joined on kube_pod_info name it (group_left(node)); without
        # that label the enricher's kube_pod_info evidence places them the same way.
        workload = workloads[n % len(workloads)]
        pod = _pod(workload, node, n)
        labels = {"alertname": "KubePodNotReady", "namespace": "shop", "pod": pod, "node": node,
                  "severity": "warning"}  # fmt: skip
        return labels, f"Pod shop/{pod} has been in a non-ready state for longer than 15 minutes."

    return Cause(f"node {node}", roots, member)


def database_outage() -> Cause:
    roots: tuple[Alert, ...] = (
        ({"alertname": "PostgresqlDown", "job": "postgres-exporter", "service": "postgres-exporter",
          "namespace": "data", "pod": "db-main-0", "instance": "10.1.3.4:9187", "severity": "critical"},
         "Postgresql instance db-main-0 is down."),
        ({"alertname": "KubeStatefulSetReplicasMismatch", "namespace": "data", "statefulset": "db-main",
          **KSM, "severity": "warning"}, "StatefulSet data/db-main has not matched the expected replicas."),
    )  # fmt: skip
    dependants = ("checkout", "orders", "payments", "inventory", "accounts")
    kinds = (
        ("DatabaseClientErrorsHigh", "queries to db-main fail"),
        ("DatabaseClientLatencyHigh", "p99 latency of queries to db-main is above 2s"),
        ("HTTPServerErrorsHigh", "5xx above 5% while db-main is unreachable"),
    )

    def member(n: int) -> Alert:
        service = dependants[n % len(dependants)]
        alertname, summary = kinds[(n // len(dependants)) % len(kinds)]
        pod = _pod(service, "db", n // (len(dependants) * len(kinds)))
        labels = {"alertname": alertname, "namespace": "shop", "service": service, "pod": pod,
                  "db_system": "postgresql", "peer_service": "db-main", "severity": "critical"}  # fmt: skip
        return labels, f"{service}: {summary}"

    return Cause("database db-main", roots, member)


def volume_full() -> Cause:
    device = "nfs.media.internal:/export/uploads"
    roots: tuple[Alert, ...] = (
        ({"alertname": "KubePersistentVolumeFillingUp", "namespace": "media",
          "persistentvolumeclaim": "uploads", "job": "kubelet", "service": "kubelet",
          "metrics_path": "/metrics", "instance": "10.0.4.1:10250",
          "node": "ip-10-0-4-1.eu-west-1.compute.internal",
          "severity": "critical"},
         "The PersistentVolume claimed by uploads in Namespace media is only 0.4% free."),
    )  # fmt: skip
    kinds = ("NodeFilesystemAlmostOutOfSpace", "NodeFilesystemSpaceFillingUp", "NodeFilesystemFilesFillingUp")

    def member(n: int) -> Alert:
        # node-exporter reports the share once per pod mounting it, on every node those pods run on.
        mount, kind = divmod(n, len(kinds))
        uid = hashlib.sha256(f"uploads/{mount}".encode()).hexdigest()
        uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
        labels = {"alertname": kinds[kind], "job": "node-exporter", "namespace": "monitoring",
                  "service": "node-exporter", "instance": f"10.0.4.{2 + mount % 40}:9100",
                  "device": device, "fstype": "nfs4",
                  "mountpoint": f"/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~nfs/uploads",
                  "severity": "warning"}  # fmt: skip
        return labels, f"Filesystem on {device} has less than 1% space left."

    return Cause("volume uploads", roots, member)


def certificate_expired() -> Cause:
    roots: tuple[Alert, ...] = (
        ({"alertname": "CertManagerCertExpired", "namespace": "ingress", "name": "wildcard-example-com",
          "issuer_name": "letsencrypt", "job": "cert-manager", "severity": "critical"},
         "The certificate wildcard-example-com has expired."),
    )  # fmt: skip
    regions = ("eu-west-1", "us-east-1", "ap-southeast-1", "sa-east-1")

    def member(n: int) -> Alert:
        site, kind = divmod(n, 2 * len(regions))
        region = regions[kind % len(regions)]
        alertname = ("BlackboxSslCertificateExpired", "BlackboxProbeFailed")[kind // len(regions)]
        url = f"https://shop-{site}.example.com/healthz"
        labels = {"alertname": alertname, "job": "blackbox", "instance": url, "module": "http_2xx",
                  "prober": region, "severity": "critical"}  # fmt: skip
        return labels, f"Probe of {url} from {region} failed: x509: certificate has expired"

    return Cause("certificate *.example.com", roots, member)


CAUSES = (
    node_outage("10.0.1.7", ("checkout", "cart", "catalog", "frontend")),
    database_outage(),
    node_outage("10.0.2.9", ("checkout", "search", "recommendations", "frontend")),
    volume_full(),
    certificate_expired(),
)


@dataclass(frozen=True)
class Planned:
    at: float  # seconds after the storm starts
    cause: int
    labels: Labels
    summary: str


def plan(total: int, seconds: float) -> list[Planned]:
    """``total`` alerts shared among the causes; cause i starts at i/10 of ``seconds``."""
    planned: list[Planned] = []
    for i, cause in enumerate(CAUSES):
        count = total // len(CAUSES) + (1 if i < total % len(CAUSES) else 0)
        start = seconds * i / 10
        alerts = [*cause.roots, *(cause.member(n) for n in range(count - len(cause.roots)))][:count]
        step = (seconds - start) / max(1, len(alerts) - len(cause.roots))
        for k, (labels, summary) in enumerate(alerts):
            at = start + max(0, k - len(cause.roots) + 1) * step
            planned.append(Planned(min(at, seconds), i, {**labels, "cluster": CLUSTER}, summary))
    planned.sort(key=lambda p: p.at)
    return planned


def fingerprint(labels: Labels) -> str:
    """Alertmanager's kind of fingerprint: a hash of the label set."""
    return hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def webhook(cause: int, alerts: list[Planned]) -> bytes:
    """One Alertmanager notification (kube-prometheus routes group by namespace) of new firing alerts."""
    starts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    body = [
        {
            "status": "firing",
            "labels": a.labels,
            "annotations": {"summary": a.summary},
            "startsAt": starts,
            "generatorURL": "http://prometheus-k8s.monitoring:9090/graph",
            "fingerprint": fingerprint(a.labels),
        }
        for a in alerts
    ]
    namespace = alerts[0].labels.get("namespace", "")
    group = {"namespace": namespace} if namespace else {}
    return orjson.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "aiops",
            "groupKey": f'{{}}:{{cause="{cause}",namespace="{namespace}"}}',
            "groupLabels": group,
            "alerts": body,
        }
    )


async def send_storm(am: AlertmanagerClient, planned: list[Planned], tick: float = 0.5) -> float:
    """Send the plan in real time: every ``tick``, each cause's due alerts in one webhook per namespace.
    Returns when the first webhook was posted (monotonic)."""
    started = time.monotonic()
    sending: list[asyncio.Task[None]] = []
    first = 0.0
    cursor = 0
    while cursor < len(planned):
        # Pacing the sender is the storm itself, not synchronisation.
        await asyncio.sleep(max(0.0, started + planned[cursor].at - time.monotonic()))
        due_until = time.monotonic() - started + tick
        batches: dict[tuple[int, str], list[Planned]] = {}
        while cursor < len(planned) and planned[cursor].at <= due_until:
            p = planned[cursor]
            batches.setdefault((p.cause, p.labels.get("namespace", "")), []).append(p)
            cursor += 1
        first = first or time.monotonic()
        for (cause, _), alerts in batches.items():
            sending.append(asyncio.create_task(am.send(webhook(cause, alerts))))
    await asyncio.gather(*sending)
    return first
