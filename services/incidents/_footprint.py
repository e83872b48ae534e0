"""An alert's footprint: where it happens (entities) and what it says is failing (causes).

Entities are "kind=value" strings, compared as they are:

    cluster, zone, namespace     the wide places; alone they never group
    service, workload, pod       what runs (workload and pod are "<namespace>/<name>")
    app                          "<namespace>/<name>" of a service or workload: a Service and the Deployment
                                 behind it share their name
    node                         where a pod runs, or the machine a node-level alert is about (each of
                                 its names: as given, without domain, its address)
    host                         the alert's own host or probe target, without its port
    dependency                   what it needs, by its labels or its logs' failed connections
    needs                        what it needs, by the topology file: a link to a cause, never shared alone
    volume                       a persistent volume claim ("<namespace>/<claim>") or a network share
    symptom                      a failure class its logs show: dns, certificate, disk-full, connection-pool
    technology                   a backing technology its logs fail on (redis, postgres, kafka ...)
    release, topic               the version it runs, the topic or queue it reads
    line                         a digest of an error line of its logs, values masked
    job                          its scrape job beside an instance: many targets, a weak link
    domain                       the registered domain of its host ("example.com")
    rule                         "<namespace>/<alertname>": one rule firing in one namespace
    unavailable-node/-zone/-domain  "something here is unavailable": two such alerts are one outage
    node-agents                  "down": a node agent's targets down as a whole (TargetDown of node-exporter);
                                 a cause of every alert saying a node is unavailable
    alert                        its label fingerprint: every episode of one (flapping) alert shares it

Causes (what the alert says is failing) are read in ``_causes``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import schemas
from services.incidents import _labels as names
from services.incidents._causes import Place, about_symptoms, about_technologies, causes, node_agents_of
from services.incidents._evidence import (
    dialled_technologies,
    error_lines,
    log_symptoms,
    logged_hosts,
    logged_technologies,
    short_name,
    text_symptoms,
)
from services.incidents._frozen import Frozen
from services.incidents._kinds import SHARED_SYMPTOM_CLASSES, Kind, alert_kind
from services.incidents._pod_evidence import (
    claim_shares,
    ingress_backends,
    pod_claims,
    pod_owner,
    pod_placement,
)
from services.incidents._technology import named_technologies
from services.incidents._topology import Topology, host_name

# A release label worth comparing: "v1" or "1" name no particular rollout.
_SPECIFIC_RELEASE = re.compile(r"^(?=.*\d).{5,}$")


class Footprint(Frozen, frozen=True):
    entities: frozenset[str]
    causes: frozenset[str]
    cluster: str
    group_key: str
    group_key_specific: bool
    override: str
    kind: Kind
    # Whether anything but the cluster places it: an alert placed nowhere stays on its own.
    placed: bool
    # What it is about (its own entities: the machine, service, pod or volume, not where that stands):
    # a new root about the same subject as the old one says the cause more precisely.
    subject: frozenset[str] = frozenset()
    # what it says it depends on, by name (``dependency=...``): a failing alert naming one points there
    dependencies: frozenset[str] = frozenset()
    namespace: str = ""  # of its subject, lower-cased; "" when a monitoring agent's own


def _what_runs(place: Place, message: schemas.EnrichedAlert, namespace: str, job: str, service: str) -> str:
    """Service, workload, pod, release and topic; returns the pod's name."""
    labels = message.alert.labels
    if service and not names.is_agent(service):
        place.add("service", service)
    if not names.APP_LABEL_SET.isdisjoint(labels):
        for key in names.APP_LABELS:
            name = labels.get(key, "")
            if name and not names.is_agent(name):
                place.add("service", name)
    if job and not names.is_agent(job) and not service:
        # A job is a scrape configuration: many targets. It names the subject only when the alert is
        # about the job as a whole (no instance: TargetDown by job); beside an instance it places
        # nothing alone ("job=node" on two machines is no link), but in a namespace it is the Service a
        # ServiceMonitor scrapes, one application with the workload of that name.
        if labels.get("instance"):
            place.add("job", job, own=False)
        else:
            place.add("service", job)
        if namespace:
            place.add("app", f"{namespace}/{job}")
    pod = names.label(labels, "pod")
    if pod:
        place.add("pod", f"{namespace}/{pod}")
    workload = names.workload(labels, pod)
    if (
        pod
        and message.evidence.metrics
        and (
            names.WORKLOAD_LABEL_SET.isdisjoint(labels)
            or not any(labels.get(key) for key in names.WORKLOAD_LABELS)
        )
    ):
        # the pod's owner as kube-state-metrics tells it beats a guess from the pod's name
        owner = pod_owner(message.evidence, pod, namespace)
        workload = (names.workload(owner, pod) if owner else "") or workload
    if workload:
        place.add("workload", f"{namespace}/{workload}")
    # By Kubernetes convention a Service and the workload behind it share a name: one application.
    if namespace:
        for name in {*place.short_values("service", "workload")}:
            place.add("app", f"{namespace}/{name}")
    for release in names.releases(labels):
        if _SPECIFIC_RELEASE.match(release):
            place.add("release", release, own=False)
    if not names.TOPIC_LABEL_SET.isdisjoint(labels):
        for key in names.TOPIC_LABELS:
            place.add("topic", labels.get(key, ""), own=False)
    return pod


def _where_it_runs(
    place: Place, message: schemas.EnrichedAlert, kind: Kind, pod: str, namespace: str, reporter: str
) -> None:
    """Node, hosts and volumes; ``reporter``: whose address ``instance`` is (``_labels.reporter``)."""
    labels = message.alert.labels
    node = ""
    if not names.NODE_LABEL_SET.isdisjoint(labels):
        for key in names.NODE_LABELS:
            node = labels.get(key, "").strip()
            if node:
                break
    node_host = ""
    if pod and not node:
        node, node_host = pod_placement(message.evidence, pod, namespace)
    if node:  # pod_placement gives an address only with a name
        for name in [*names.node_names(node), *names.node_names(node_host)]:
            place.add("node", name, own=kind.node_level)
    hosts: list[str] = []
    if not names.HOST_LABEL_SET.isdisjoint(labels):
        hosts += [labels.get(key, "") for key in names.HOST_LABELS]
    instance = host_name(labels.get("instance", "")) if reporter else ""  # nobody's address: not read
    if reporter == "node":
        for name in names.node_names(instance):
            place.add("node", name, own=kind.node_level)
    elif reporter == "subject":
        hosts.append(instance)
    for host in [host_name(raw) for raw in hosts if raw] if hosts else ():
        place.add("host", host)
        place.add("domain", names.site_domain(host), own=False)
        # A probe of a site is about the application its Ingress serves, as its series tell it
        # (kube_ingress_path): without series, no need to read the path the probe asks for.
        if message.evidence.metrics:
            path = _url_path(labels.get("instance", ""), host)
            for backend in ingress_backends(message.evidence, host, path):
                place.add("app", backend)
        if names.cluster_dns(host):
            # A Service's or pod's cluster name is no node's ("catalog.shop.svc" runs on no node
            # "catalog"). A probe of a Service's name is about that application: the Service and the
            # workload behind it share its name.
            service_namespace, service = names.service_address(host)
            place.add("app", f"{service_namespace}/{service}" if service else "")
            continue
        if kind.node_level:
            for name in names.node_names(host):
                place.add("node", name)
        else:
            # A target at a node's name or address (etcd, a hostNetwork pod, a VM's service) runs on
            # that node. A pod's own address or a Service's name is no node's, so it meets none.
            for name in names.node_names(host):
                place.add("node", name, own=False)
    claims = [labels.get("persistentvolumeclaim", "").strip()]
    claims += pod_claims(message.evidence, pod) if pod and message.evidence.metrics else []
    for claim in claims:
        if not claim:
            continue
        place.add("volume", f"{namespace}/{claim}", own=claim == claims[0])
        # The share behind the claim is where it lives, not what the alert is about (a full share
        # on a file server's full disk: the disk explains the claim, not the other way round).
        # Claims on the very same share meet (volume); its directories meet only what a file server
        # says of its own filesystem (a cause, ``exports``), never another claim's directories.
        for server, path in claim_shares(message.evidence, claim, namespace):
            place.add("volume", f"{server}:{path.rstrip('/')}", own=False)
            for share in _shares(server, path):
                place.add("export", share, own=False)
    device = labels.get("device", "")
    mountpoint = labels.get("mountpoint", "")
    if ":/" in device:  # a network share (nfs-server:/export), the same for every node mounting it
        place.add("volume", device)
    elif mountpoint and names.network_filesystem(labels.get("fstype", "")):
        # a network filesystem mounted at one path on every machine sharing it
        place.add("volume", f"{labels['fstype'].lower()}:{mountpoint}")


def _url_path(instance: str, host: str) -> str:
    """The path of an ``instance`` that is a URL of ``host`` ("/" otherwise): which Ingress path it probes."""
    if "://" not in instance or host_name(instance) != host:
        return "/"
    try:
        return urlsplit(instance.strip()).path or "/"
    except ValueError:
        return "/"


def exports(labels: dict[str, str], reporter: str) -> frozenset[str]:
    """``export=<host>:<mountpoint>`` of a node agent's alert about a machine's own filesystem (not
    its root): what a file server filling up explains, the claims on shares exported from it. A
    cause, so it meets a claim's share directories and nothing else: two alerts of one machine's
    disk, or two machines' same path, share no name by it. ``reporter``: ``_labels.reporter``."""
    if reporter != "node":
        return frozenset()
    mountpoint = labels.get("mountpoint", "").rstrip("/")
    if not mountpoint.startswith("/") or ":/" in labels.get("device", ""):
        return frozenset()
    if names.network_filesystem(labels.get("fstype", "")):
        return frozenset()
    instance = host_name(labels.get("instance", ""))
    return frozenset(f"export={name}:{mountpoint}" for name in _server_names(instance))


def _server_names(server: str) -> list[str]:
    """A file server's names as given and the address an EC2-style name holds; not its name without
    domain (web-1.dc1 and web-1.dc2 are two machines)."""
    short = server.strip().lower().split(".", 1)[0]
    return [name for name in names.node_names(server) if name != short or name == server.strip().lower()]


# Directories of a share that may be the file server's mountpoint: a provisioner's claim is a
# subdirectory of the export (nfs-subdir-external-provisioner: <export>/<namespace>-<claim>-<volume>).
_SHARE_DEPTH = 3


def _shares(server: str, path: str) -> list[str]:
    """``server:path`` and ``server:<parent>`` up to the first directory (the root names no share),
    under each name of the server."""
    parts = [part for part in path.split("/") if part]
    paths = ["/" + "/".join(parts[:depth]) for depth in range(len(parts), 0, -1)][:_SHARE_DEPTH]
    return [f"{name}:{directory}" for name in _server_names(server) for directory in paths]


def _with_topology(place: Place, topology: Topology, kind: Kind) -> None:
    for host in place.values("host"):
        place.add("service", topology.service(host))
        place.add("node", topology.node(host), own=kind.node_level)
    for node in [
        *place.values("node"),
        *(e.split("=", 1)[1] for e in place.context if e.startswith("node=")),
    ]:
        place.add("zone", topology.zone(node), own=kind.zone_level)


def _dependencies(
    place: Place,
    message: schemas.EnrichedAlert,
    topology: Topology | None,
    namespace: str,
    own_names: list[str],
) -> None:
    """What it depends on, its symptoms, error lines and technologies; ``own_names``: its services' and
    workloads' names (``Place.short_values("service", "workload")``)."""
    labels = message.alert.labels
    found: list[str] = []
    if not names.DEPENDENCY_LABEL_SET.isdisjoint(labels):
        found += [
            host_name(value)
            for key in names.DEPENDENCY_LABELS
            if key in labels
            for value in labels[key].split(",")
            if value
        ]
    if not names.PROXY_POD_LABEL_SET.isdisjoint(labels):
        found += [
            names.workload_of(labels[key]) or labels[key] for key in names.PROXY_POD_LABELS if labels.get(key)
        ]
    # Most alerts come without logs: what their lines would say is not looked for.
    logged = message.evidence.logs is not None
    if logged:
        found += logged_hosts(message.evidence)
    declared = [dep for name in own_names for dep in topology.dependencies(name)] if topology else []
    own = {*own_names, *place.short_values("host")} if found or declared else set()
    for kind, dependencies in (("dependency", found), ("needs", declared)):
        for dependency in dependencies:
            for name in {
                dependency,
                short_name(dependency),
                topology.service(dependency) if topology else "",
                *names.stateful_names(dependency),
            }:
                if name and name not in own:
                    place.add(kind, name, own=False)
    # A host its logs fail to reach that is a Redis (by its name, or the port of the failing line) says
    # where that Redis is: a bare Service name ("redis-master") resolves in the alert's own namespace,
    # "rabbitmq.messaging.svc" in messaging, an outside name ("redis-staging.internal") outside. An
    # outage of a Redis elsewhere, known by its class only, does not explain the alert (_score).
    # Labels name a peer logically (peer_service=redis-cache), not where it resolves: they pin nothing.
    for technology, host in dialled_technologies(message.evidence) if logged else ():
        where = _namespace_of(host, namespace)
        if where:
            place.add("pinned", technology, own=False)
            place.add("pinned", f"{technology}@{where}", own=False)
    # The alert's own words may show a failure class the way a log line does ("x509: certificate has
    # expired" in a probe's description).
    annotations = message.alert.annotations
    said = text_symptoms(annotations.get("summary", ""), annotations.get("description", ""))
    for symptom in [*log_symptoms(message.evidence), *said]:
        place.add("symptom", symptom, own=False)
        if symptom == "certificate":  # a certificate said to expire soon may explain it, with a place
            place.add("symptom", "certificate-expiring", own=False)
        if symptom == "disk-full":  # whichever disk it is: a full local disk may explain it too
            place.add("symptom", "local-disk-full", own=False)
            if namespace:  # and a full claim of its namespace (a pod mounts only those)
                place.add("symptom", f"disk-full@{namespace}", own=False)
    for line in error_lines(message.evidence) if logged else ():
        place.add("line", line, own=False)
    ingress = not names.INGRESS_LABEL_SET.isdisjoint(labels)
    if ingress and any(labels.get(key) for key in names.INGRESS_LABELS):
        place.add("symptom", "ingress", own=False)
    for technology in logged_technologies(message.evidence) if logged else ():
        place.add("technology", technology, own=False)


# A StatefulSet pod's name: ``kafka-0`` in ``kafka-0.kafka-headless`` (a pod of a headless Service).
_ORDINAL = re.compile(r"-\d+$")


def _namespace_of(host: str, namespace: str) -> str:
    """Where a Kubernetes name resolves: a bare Service name in the client's own namespace,
    ``<svc>.<ns>[.svc...]`` and ``<pod>.<headless>.<ns>.svc...`` in ``<ns>``; an outside name
    (three labels or more without ``svc``) outside. "" when it does not say: a pod of a headless Service
    without its namespace, a bare name in an alert without namespace."""
    parts = host.split(".")
    if "svc" in parts[2:]:
        return parts[parts.index("svc", 2) - 1]
    if len(parts) == 1:
        return namespace
    if len(parts) == 2:
        return "" if _ORDINAL.search(parts[0]) else parts[1]
    return "~outside"


def _subject_namespace(job: str, reporter: str, namespace: str) -> str:
    """The namespace of what the alert is about: not a monitoring agent's own (a blackbox probe or a
    node-exporter target scraped in ``monitoring``); kube-state-metrics names its object's."""
    if job and names.is_agent(job) and reporter != "":
        return ""
    return namespace.lower()


def footprint(
    message: schemas.EnrichedAlert, topology: Topology | None = None, key_label: str = ""
) -> Footprint:
    alert = message.alert
    labels = alert.labels
    kind = alert_kind(alert)
    place = Place()
    cluster = labels.get("cluster", "").strip().lower()
    place.add("cluster", cluster, own=False)
    namespace = names.label(labels, "namespace")
    place.add("namespace", namespace, own=False)
    if not names.ZONE_LABEL_SET.isdisjoint(labels):
        for key in names.ZONE_LABELS:
            place.add("zone", labels.get(key, ""), own=kind.zone_level)
    job, service = names.label(labels, "job"), names.label(labels, "service")
    reporter = names.reporter(labels, job, service)
    pod = _what_runs(place, message, namespace, job, service)
    # One rule firing for many objects of a namespace at once: what Alertmanager groups by default.
    if namespace and labels.get("alertname"):
        place.add("rule", f"{namespace}/{labels['alertname']}", own=False)
    _where_it_runs(place, message, kind, pod, namespace, reporter)
    if topology:
        _with_topology(place, topology, kind)
    # its services and workloads are all placed by now: what follows adds none
    own_names = place.short_values("service", "workload")
    _dependencies(place, message, topology, namespace, own_names)
    # Alerts about one technology (a broker down, a consumer group lagging on it) meet through it; it
    # is a cause too (_causes), so a Redis down explains services whose logs fail on Redis.
    about, symptoms = about_technologies(alert, own_names), about_symptoms(alert, own_names)
    if "certificate" in symptoms and not (kind.failing or kind.unavailable):
        # A certificate that will expire explains no failure yet: it meets other expiring ones (one
        # issuer, one renewal job), not every x509 error of the moment.
        symptoms = [("certificate-expiring" if s == "certificate" else s) for s in symptoms]
    for technology in about:
        place.add("technology", technology, own=False)
    # Where the technology it is about runs, for the alerts that say where theirs is (``pinned``): the
    # namespace of its own service or workload named after it (a Redis Deployment), the place of a
    # host named after it. Not an exporter's namespace: RedisDown from an exporter in ``monitoring``
    # is about a Redis anywhere, and places nothing.
    if about:
        located = {(t, namespace) for t in named_technologies(" ".join(own_names)) if namespace}
        for host in place.values("host"):
            where = _namespace_of(host, namespace)
            located |= {(t, where) for t in named_technologies(host) if where}
        for technology, where in sorted(located):
            if technology in about:
                place.add("technology-in", technology, own=False)
                place.add("technology-in", f"{technology}@{where}", own=False)
    # Likewise two alerts about one shared service's failure class: two host names' certificates
    # expired at once (one issuer, one renewal job), the resolver, the ingress controller. Not two
    # full disks: each machine fills its own.
    for symptom in symptoms:
        if symptom in SHARED_SYMPTOM_CLASSES:
            place.add("symptom", symptom, own=False)
    if kind.unavailable:
        for entity in [*place.context, *place.own]:
            if entity.startswith(("node=", "zone=", "domain=")):
                where, _, name = entity.partition("=")
                place.add(f"unavailable-{where}", name, own=False)
    node_agents = node_agents_of(labels, kind, reporter)
    if node_agents == "job":
        place.add("node-agents", "down", own=False)
    subject = frozenset(place.own)
    entities = subject.union(place.context)
    said = causes(kind, place, symptoms, about)
    exported = exports(labels, reporter)
    if exported:
        said |= exported
    if node_agents == "node":
        said |= {"node-agents=down"}
    return Footprint(
        entities=entities,
        causes=said,
        cluster=cluster,
        group_key=message.group.group_key,
        group_key_specific=names.group_key_specific(message.group),
        override=labels.get(key_label, "").strip() if key_label else "",
        kind=kind,
        # by any entity but the cluster's, the only one of kind "cluster"
        placed=len(entities) > (1 if cluster else 0),
        subject=subject,
        # what it depends on is context (_dependencies), never its own
        dependencies=frozenset([entity for entity in place.context if entity.startswith("dependency=")]),
        namespace=_subject_namespace(job, reporter, namespace),
    )
