"""What Prometheus, Kubernetes and exporter labels mean for an alert's place: names, not values."""

from __future__ import annotations

import re
from functools import lru_cache

import schemas
from services.incidents._kinds import words_of

# Labels naming what the alert's service depends on (Envoy, OpenTelemetry, Istio, hand-written rules).
DEPENDENCY_LABELS = (
    "dependency", "depends_on", "upstream", "upstream_service", "upstream_cluster", "backend",
    "backend_service", "peer_service", "net_peer_name", "server_address", "destination_service",
    "destination_service_name", "destination_workload", "target_service", "remote_service",
    "db_host", "database_host", "server",
    # HAProxy's exporters: the backend (pool) or frontend an alert's traffic passes through
    "proxy", "frontend",
)  # fmt: skip
# Labels of an alert on traffic through an ingress controller.
INGRESS_LABELS = ("ingress", "controller_class", "controller_pod")
# Labels naming the pod a request passes through (ingress-nginx's controller): a dependency by workload.
PROXY_POD_LABELS = ("controller_pod", "proxy_pod")
ZONE_LABELS = (
    "zone", "availability_zone", "topology_kubernetes_io_zone", "label_topology_kubernetes_io_zone",
    "failure_domain_beta_kubernetes_io_zone", "label_failure_domain_beta_kubernetes_io_zone",
)  # fmt: skip
WORKLOAD_LABELS = (
    "deployment", "statefulset", "daemonset", "replicaset", "job_name", "cronjob", "owner_name",
    "workload", "created_by_name",
)  # fmt: skip
HOST_LABELS = ("host", "hostname", "nodename")
# What was rolled out: services failing on one release, in one place, are one bad deploy.
RELEASE_LABELS = (
    "version", "app_kubernetes_io_version", "label_app_kubernetes_io_version", "label_version",
    "destination_version", "service_version", "app_version", "release", "image_tag", "tag", "build",
    "build_id", "git_sha", "git_commit", "commit", "commit_sha", "revision", "deploy_id",
    "deployment_id", "change_id",
)  # fmt: skip
# Labels holding a container image: its tag is the release ("registry/shop/cart:v2.14.0" -> "v2.14.0").
IMAGE_LABELS = ("image", "container_image", "image_spec")
# Labels naming the node a pod runs on, as relabelling rules commonly name it.
NODE_LABELS = ("node", "kubernetes_node", "node_name", "exported_node", "host_ip")
# A topic or queue several consumers read.
TOPIC_LABELS = ("topic", "queue", "queue_name")
# Labels naming an application by Kubernetes convention (beside ``service``).
APP_LABELS = ("app_kubernetes_io_name", "app", "k8s_app")
# The lists above as sets: most alerts carry none of a list's labels, which one ``isdisjoint`` tells
# before the list is read in its order (the first found wins, or what is found keeps that order).
APP_LABEL_SET = frozenset(APP_LABELS)
DEPENDENCY_LABEL_SET = frozenset(DEPENDENCY_LABELS)
HOST_LABEL_SET = frozenset(HOST_LABELS)
INGRESS_LABEL_SET = frozenset(INGRESS_LABELS)
NODE_LABEL_SET = frozenset(NODE_LABELS)
PROXY_POD_LABEL_SET = frozenset(PROXY_POD_LABELS)
TOPIC_LABEL_SET = frozenset(TOPIC_LABELS)
WORKLOAD_LABEL_SET = frozenset(WORKLOAD_LABELS)
ZONE_LABEL_SET = frozenset(ZONE_LABELS)
_RELEASE_OR_IMAGE_LABELS = frozenset((*RELEASE_LABELS, *IMAGE_LABELS))
# Group-by labels that do not place an alert: sharing an Alertmanager group by these alone is weak.
_WIDE_GROUP_LABELS = frozenset(
    {"alertname", "severity", "cluster", "namespace", "env", "environment", "region", "zone", "team",
     "owner", "prometheus", "receiver", "priority", "tier", "job"}
)  # fmt: skip
# Kubernetes's random suffixes use this alphabet (no vowels, no 0, 1 or 3). A pod-template hash is a
# number's decimal digits each mapped into it (SafeEncodeString), which gives only 4-9, b, c, d and f:
# so a CronJob's pod ("backup-29952459-x7k2p", its Job named by the minute) is no Deployment's.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_HASH_DIGITS = "[4-9bcdf]"
_DEPLOYMENT_POD = re.compile(rf"^(.+)-{_HASH_DIGITS}{{6,10}}-{_SAFE}{{5}}$")
_HASHED = re.compile(rf"^(.+)-{_SAFE}{{6,10}}$")
_DAEMON_POD = re.compile(rf"^(.+)-{_SAFE}{{5}}$")
_ORDINAL_POD = re.compile(r"^(.+)-\d+$")
_GROUP_KEY_LABEL = re.compile(r"(\w+)=")
# EC2-style node names carry their address: ip-10-0-1-7.eu-west-1.compute.internal is 10.0.1.7.
_IP_NODE = re.compile(r"^ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?:\.|$)")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def label(labels: dict[str, str], key: str) -> str:
    """A label's value, ``exported_<key>`` first (what the target said before the scrape relabelled it)."""
    exported = _EXPORTED.get(key) or f"exported_{key}"
    return (labels.get(exported) or labels.get(key) or "").strip()


# The names asked for with every alert, made once (a name made anew is hashed anew at each lookup).
_EXPORTED = {key: f"exported_{key}" for key in ("namespace", "job", "service", "pod", "node", "instance")}


@lru_cache(maxsize=1024)
def is_agent(name: str) -> bool:
    """Whether a job or service name is a monitoring agent's (``schemas.names_an_agent``); cached: a
    storm has a few jobs and services."""
    return schemas.names_an_agent(name)


# Labels of a proxy reporting on its backend: its instance is nobody's to compare.
_PROXIED_LABELS = frozenset((*DEPENDENCY_LABELS, *PROXY_POD_LABELS))


def reporter(labels: dict[str, str], job: str, service: str) -> str:
    """Whose address ``instance`` is: "subject" (the alert's own host or probe target), "node" (a node
    agent's: kubelet, cAdvisor, node-exporter), or "" (nobody's to compare: kube-state-metrics, or a
    proxy reporting on the backend its labels name). ``job`` and ``service``: those labels (``label``)."""
    proxied = not _PROXIED_LABELS.isdisjoint(labels) and any(labels.get(key) for key in _PROXIED_LABELS)
    return _reporter(job, service, proxied)


@lru_cache(maxsize=1024)
def _reporter(job: str, service: str, proxied: bool) -> str:
    """``reporter`` by what decides it: a storm has a few jobs."""
    words = set(words_of(f"{job} {service}"))
    if {"state", "metrics"} <= words or proxied:
        return ""
    if words & {"kubelet", "cadvisor"} or {"node", "exporter"} <= words:
        return "node"
    return "subject"


def deployment_of_pod(pod: str) -> str:
    """The Deployment a pod's name says it belongs to ("checkout-7d9f8b6c4-x2k4q" -> "checkout"), ""
    when the name is not a Deployment's pod's."""
    match = _DEPLOYMENT_POD.match(pod)
    return match.group(1) if match else ""


def workload_of(pod: str) -> str:
    """The workload a pod name belongs to ("checkout-7d9f8b6c4-x2k4q" -> "checkout"), "" if unknown."""
    for pattern in (_DEPLOYMENT_POD, _ORDINAL_POD, _DAEMON_POD):
        match = pattern.match(pod)
        if match:
            return match.group(1)
    return ""


# The label saying what kind of owner ``created_by_name`` / ``owner_name`` is (kube_pod_info, kube_pod_owner).
_OWNER_KIND = {"created_by_name": "created_by_kind", "owner_name": "owner_kind"}
# A ReplicaSet's name is its Deployment's and the pod-template hash; whatever alphabet a tool wrote
# it in, a hash has a digit ("checkout-web" is a name, not a hash).
_TEMPLATE_HASH = re.compile(r"^(.+)-(?=[a-z]*\d)[a-z0-9]{5,10}$")


def deployment_of(replicaset: str) -> str:
    """The Deployment a ReplicaSet belongs to ("checkout-7d9f8b6c4" -> "checkout")."""
    match = _HASHED.match(replicaset) or _TEMPLATE_HASH.match(replicaset)
    return match.group(1) if match else replicaset


def workload(labels: dict[str, str], pod: str) -> str:
    if WORKLOAD_LABEL_SET.isdisjoint(labels):
        return workload_of(pod) if pod else ""
    for key in WORKLOAD_LABELS:
        value = labels.get(key, "").strip()
        if value:
            owner_kind = labels.get(_OWNER_KIND.get(key, ""), "")
            if key == "replicaset" or owner_kind.lower() == "replicaset":
                return deployment_of(value)
            return value
    return workload_of(pod) if pod else ""


def is_address(host: str) -> bool:
    return bool(_IPV4.match(host))


@lru_cache(maxsize=4096)
def node_names(node: str) -> tuple[str, ...]:
    """The names one node goes by: as given, without its domain, and the address an EC2-style name
    holds. Cached: a storm's alerts name their few nodes again and again."""
    node = node.strip().lower()
    if not node:
        return ()
    names = [node]
    if "." in node and not _IPV4.match(node):
        names.append(node.split(".", 1)[0])
    match = _IP_NODE.match(node) if node.startswith("ip-") else None
    if match:
        names.append(".".join(match.groups()))
    return tuple(names)


def group_key_specific(group: schemas.GroupContext) -> bool:
    """Whether Alertmanager grouped by a label that places alerts (not only by name, severity ...)."""
    if not group.group_key:
        return False
    if group.group_labels:
        return bool(set(group.group_labels) - _WIDE_GROUP_LABELS)
    return _key_specific(group.group_key)


@lru_cache(maxsize=1024)
def _key_specific(group_key: str) -> bool:
    """Whether a group key's labels place alerts: a group's alerts arrive together, one key for all."""
    return bool(set(_GROUP_KEY_LABEL.findall(group_key.rsplit(":", 1)[-1])) - _WIDE_GROUP_LABELS)


def releases(labels: dict[str, str]) -> list[str]:
    """The release values an alert's labels name: version labels, and the tag of an image label."""
    if _RELEASE_OR_IMAGE_LABELS.isdisjoint(labels):
        return []
    found = [labels[key].strip() for key in RELEASE_LABELS if key in labels]
    for key in IMAGE_LABELS:
        if key not in labels:
            continue
        image = labels[key].split("@", 1)[0]
        name, _, tag = image.rpartition(":")
        if name and "/" not in tag and tag != "latest":
            found.append(tag)
    return found


# Filesystems node-exporter reports whose data lives elsewhere: one share, many mounts.
_NETWORK_FILESYSTEMS = re.compile(
    r"^(?:nfs\d?|cifs|smb\d?|ceph|cephfs|glusterfs|lustre|fuse\.(?:s3fs|gcsfuse|glusterfs|ceph.*)|efs)$"
)


def network_filesystem(fstype: str) -> bool:
    return bool(_NETWORK_FILESYSTEMS.match(fstype.strip().lower()))


# Private name spaces: every node, every Service of a cluster shares these suffixes.
_PRIVATE_SUFFIXES = frozenset(
    {"local", "internal", "cluster", "svc", "lan", "home", "localdomain", "intranet"}
)


# Second-level labels under which countries register domains (example.co.uk, example.com.au).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or"})


def site_domain(host: str) -> str:
    """The registered domain of a public host name ("api.shop.example.com" -> "example.com"): its
    names share a load balancer, a wildcard certificate, a DNS zone. "" for addresses, private names
    and single labels."""
    labels = host.split(".")
    if len(labels) < 2 or _IPV4.match(host) or not labels[-1].isalpha() or _PRIVATE_SUFFIXES & set(labels):
        return ""
    size = 3 if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-size:]) if len(labels) >= size else ""


_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def cluster_dns(host: str) -> bool:
    """Whether a host is a name of the cluster's DNS: a Service or a pod, "<...>.svc[.<domain>]"."""
    return "svc" in host.split(".")[1:]


def service_address(host: str) -> tuple[str, str]:
    """(namespace, service) of a Kubernetes Service's DNS name ("checkout.shop.svc",
    "checkout.shop.svc.cluster.local" -> ("shop", "checkout")); ("", "") for other names."""
    labels = host.split(".")
    if len(labels) < 3 or labels[2] != "svc" or not all(_DNS_LABEL.match(label) for label in labels[:2]):
        return "", ""
    return labels[1], labels[0]


def stateful_names(host: str) -> list[str]:
    """A StatefulSet pod's stable DNS name reaches the pod, its headless Service and its workload:
    "kafka-1.kafka-headless.data.svc.cluster.local" and "kafka-1.kafka-headless" -> kafka-1,
    kafka-headless, kafka. [] for other names."""
    labels = host.split(".")
    if "svc" in labels[2:]:
        labels = labels[: labels.index("svc", 2) - 1]  # <pod>.<service> before <namespace>.svc
    if len(labels) != 2 or not _ORDINAL_POD.match(labels[0]):
        return []
    return [labels[0], labels[1], workload_of(labels[0])]
