"""Which log streams belong to an alert: its most specific identity first, relaxed until one exists.

An alert from kube-state-metrics carries both ``pod`` and ``instance`` (the exporter's pod IP);
mapping every label at once would ask for a stream labelled with both, which none is. So each
candidate selector names one identity (the pod, else the container, workload or service, else
the host), qualified by the namespace, under each stream label name that shippers use for it.
Loki's ``/series`` then says which candidates have streams, and the most specific one wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.enricher._promql import quote_value

# Stream label names shippers use for one identity (Promtail/Alloy, OpenTelemetry, Docker).
_POD = ("pod", "pod_name", "k8s_pod_name")
_CONTAINER = ("container", "container_name", "k8s_container_name")
_SERVICE = ("service_name", "service", "app", "app_kubernetes_io_name")
_HOST = ("host", "hostname", "node", "nodename", "instance")
_NAMESPACE = ("namespace", "k8s_namespace_name")

# Identity tiers, most specific first: (alert label, stream label names, how its value names pods).
# A workload's pods are named after it: <deployment>-<replicaset hash>-<5>, <statefulset>-<n>, ...
_WORKLOAD_PODS = {
    "deployment": r"-[a-z0-9]{6,10}-[a-z0-9]{5}",
    "statefulset": r"-[0-9]+",
    "daemonset": r"-[a-z0-9]{5}",
    "job_name": r"-[a-z0-9]{5}",
    "cronjob": r"-[0-9]+-[a-z0-9]{5}",
    "replicaset": r"-[a-z0-9]{5}",
}
_TIERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pod", _POD),
    ("container", _CONTAINER),
    *((workload, _POD) for workload in _WORKLOAD_PODS),
    ("service", _SERVICE),
    ("app", _SERVICE),
    ("instance", _HOST),
    ("node", _HOST),
    ("hostname", _HOST),
    ("host", _HOST),
)


@dataclass(frozen=True)
class Matcher:
    label: str
    value: str
    regex: bool = False

    def text(self) -> str:
        return f"{self.label}{'=~' if self.regex else '='}{quote_value(self.value)}"

    def holds(self, stream: Mapping[str, str]) -> bool:
        found = stream.get(self.label)
        if found is None:
            return False
        return bool(re.fullmatch(self.value, found)) if self.regex else found == self.value


@dataclass(frozen=True)
class Candidate:
    matchers: tuple[Matcher, ...]

    @property
    def selector(self) -> str:
        return "{" + ", ".join(m.text() for m in sorted(self.matchers, key=lambda m: m.label)) + "}"

    def holds(self, stream: Mapping[str, str]) -> bool:
        return all(matcher.holds(stream) for matcher in self.matchers)


def _literal(value: str) -> str:
    """A name as an RE2 literal (``re.escape`` would also escape the dashes of every name)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", value)


def host_of(value: str) -> str:
    """``instance`` usually carries a scrape port (``web-1:9100``) that log streams do not."""
    host, _, port = value.rpartition(":")
    return host if host and port.isdigit() else value


def _names(alert_label: str, defaults: Sequence[str], label_map: Mapping[str, str]) -> list[str]:
    """The mapped stream label first (LOKI_LABEL_MAP), then the usual ones, each once."""
    mapped = label_map.get(alert_label)
    return list(dict.fromkeys([mapped, *defaults] if mapped else defaults))


def candidates(labels: Mapping[str, str], label_map: Mapping[str, str]) -> list[Candidate]:
    """Selectors for the alert's identities, most specific first; empty when it has none."""
    namespace = labels.get("namespace")
    qualifiers = _names("namespace", _NAMESPACE, label_map) if namespace else []
    found: list[Candidate] = []
    for alert_label, defaults in _TIERS:
        value = labels.get(alert_label)
        if not value:
            continue
        matcher_value, regex = value, False
        if alert_label in _WORKLOAD_PODS:
            matcher_value, regex = _literal(value) + _WORKLOAD_PODS[alert_label], True
        elif alert_label == "instance":
            matcher_value = host_of(value)
        namespaced = alert_label not in ("instance", "node", "hostname", "host")
        for name in _names(alert_label, defaults, label_map):
            identity = Matcher(name, matcher_value, regex)
            if namespaced and qualifiers:
                found.extend(Candidate((identity, Matcher(q, namespace or ""))) for q in qualifiers)
            else:
                found.append(Candidate((identity,)))
    return list(dict.fromkeys(found))


def most_specific(found: Sequence[Candidate], streams: Sequence[Mapping[str, str]]) -> int | None:
    """The index of the first candidate that some existing stream satisfies."""
    for index, candidate in enumerate(found):
        if any(candidate.holds(stream) for stream in streams):
            return index
    return None


def object_names(labels: Mapping[str, str]) -> str | None:
    """A regex for the Kubernetes objects the alert names (its pod, workload and their pods)."""
    names = [_literal(labels["pod"])] if labels.get("pod") else []
    for workload, pods in _WORKLOAD_PODS.items():
        if labels.get(workload):
            name = _literal(labels[workload])
            names.append(f"{name}(?:{pods})?")
            # Its claims are named after it (redis-data, data-redis-0 is the StatefulSet's own):
            # a claim that cannot bind keeps its pods Pending. Both event-exporter and Alloy forms.
            names.append(f"PersistentVolumeClaim/{name}-[a-z0-9.-]+")
            names.append(f"name={name}-[a-z0-9.-]+ kind=PersistentVolumeClaim")
    for exact in ("persistentvolumeclaim", "node"):
        if labels.get(exact):
            names.append(_literal(labels[exact]))
    names = [name for name in names if "`" not in name]
    if not names:
        return None
    # Whole names only: "api" must not find "api-gateway", but "Pod/api-0" and "api-0.17a5" count.
    return rf"(?:^|[^\w-])(?:{'|'.join(dict.fromkeys(names))})(?:[^\w-]|$)"
