"""Which Kubernetes events belong to an alert, and how they read as evidence. No I/O here.

The plan asks the API server for the events of the objects the alert's labels name: a pod by
field selector; a workload by listing its namespace and keeping the objects named after it
(field selectors match whole names only, and a Deployment's pods are ``<name>-<hash>-<5>``);
a node in ``default``, where the kubelet records node events. Events are kept when they were
seen in the alert's window, merged by reason and message (the API server already counts
repeats of one object's event; several pods of a workload repeat it again), and written as the
lines a shipper such as Grafana Alloy writes them to Loki, so the analyst's rules read
``reason=FailedScheduling msg="0/3 nodes are available: 3 Insufficient memory."`` either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.enricher._streams import _WORKLOAD_PODS, _literal

# Reasons that name why a pod does not run or was killed: read first, whatever their count.
PROBLEM_REASONS = frozenset(
    {
        "FailedScheduling",
        "BackOff",
        "OOMKilling",
        "Unhealthy",
        "FailedMount",
        "FailedAttachVolume",
        "Evicted",
        "Failed",
        "FailedCreatePodSandBox",
        "ErrImagePull",
        "InspectFailed",
        "BackoffLimitExceeded",
        "DeadlineExceeded",
        "ProvisioningFailed",
        "NodeNotReady",
        "FailedCreate",
    }
)
# A Deployment's ReplicaSets (<name>-<hash>: FailedCreate is theirs) and their pods, in the
# alphabet Kubernetes writes those suffixes in (no vowels): "api" does not own "api-gateway".
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_DEPLOYMENT_OBJECTS = rf"-{_SAFE}{{6,10}}(?:-{_SAFE}{{5}})?"
_LINE_LIMIT = 1000
# An object name the API server would accept (RFC 1123 subdomain); anything else is not asked for.
_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class Lookup:
    """One list request: a namespace, a field selector, and the objects (``Kind/name``) kept of its answer."""

    namespace: str
    selector: str = ""
    names: re.Pattern[str] | None = None
    # What ``names`` keeps, in words: "deployment/api, its pods and claims".
    objects: str = ""

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/events"

    def describe(self) -> str:
        """The request as a reader would repeat it, for the evidence and its errors."""
        if self.selector:
            return f"{self.path}?fieldSelector={self.selector}"
        return f"{self.path} (the events of {self.objects})"


def _involved(kind: str, name: str) -> str:
    return f"involvedObject.kind={kind},involvedObject.name={name}"


def _workload_objects(label: str, value: str) -> list[str]:
    """``Kind/name`` patterns of a workload, its pods, and its claims (a StatefulSet's are
    ``<template>-<pod>``), which keep the pods Pending when they cannot bind."""
    name = _literal(value)
    pods = _DEPLOYMENT_OBJECTS if label == "deployment" else _WORKLOAD_PODS[label]
    claims = f"PersistentVolumeClaim/(?:{name}-[a-z0-9.-]+|[a-z0-9.-]+-{name}{pods})"
    return [f"[A-Za-z]+/{name}(?:{pods})?", claims]


def plan(labels: Mapping[str, str]) -> list[Lookup]:
    """The lookups for the objects the alert names; empty when it names none."""
    valid = {key: value for key, value in labels.items() if _NAME.fullmatch(value)}
    lookups: list[Lookup] = []
    namespace = valid.get("namespace")
    workloads = [label for label in _WORKLOAD_PODS if valid.get(label)]
    if namespace and workloads:
        names = [pattern for label in workloads for pattern in _workload_objects(label, valid[label])]
        if valid.get("pod"):
            names.append(f"Pod/{_literal(valid['pod'])}")
        objects = ", ".join(f"{label}/{valid[label]}" for label in workloads)
        lookups.append(
            Lookup(namespace, names=re.compile("|".join(names)), objects=f"{objects}, pods, claims")
        )
    elif namespace:
        if valid.get("pod"):
            lookups.append(Lookup(namespace, _involved("Pod", valid["pod"])))
        if valid.get("persistentvolumeclaim"):
            lookups.append(
                Lookup(namespace, _involved("PersistentVolumeClaim", valid["persistentvolumeclaim"]))
            )
    if valid.get("node"):
        lookups.append(Lookup("default", _involved("Node", valid["node"])))
    return lookups


@dataclass(frozen=True)
class Event:
    kind: str
    name: str
    type: str
    reason: str
    message: str
    count: int
    first: float
    last: float


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse(item: Any) -> Event | None:
    """A core/v1 Event, legacy (first/lastTimestamp, count) or recorded through events.k8s.io/v1
    (eventTime, series); None for an item without an object or a time."""
    if not isinstance(item, dict):
        return None
    involved = item.get("involvedObject")
    series, metadata = _object(item.get("series")), _object(item.get("metadata"))
    first = _seconds(item.get("firstTimestamp")) or _seconds(item.get("eventTime"))
    first = first or _seconds(metadata.get("creationTimestamp"))
    if not isinstance(involved, dict) or first is None:
        return None
    last = _seconds(item.get("lastTimestamp")) or _seconds(series.get("lastObservedTime")) or first
    count = item.get("count") or series.get("count") or 1
    return Event(
        kind=str(involved.get("kind") or ""),
        name=str(involved.get("name") or ""),
        type=str(item.get("type") or "Normal"),
        reason=str(item.get("reason") or ""),
        message=" ".join(str(item.get("message") or "").split()),
        count=count if isinstance(count, int) and count > 0 else 1,
        first=first,
        last=max(last, first),
    )


def kept(events: Iterable[Event], lookup: Lookup, start: float, end: float) -> list[Event]:
    """The events of the lookup's objects seen in ``start``..``end``."""
    return [
        event
        for event in events
        if event.last >= start
        and event.first <= end
        and (lookup.names is None or lookup.names.fullmatch(f"{event.kind}/{event.name}"))
    ]


@dataclass
class Digest:
    """The events of one type, reason and message, over every object that reported it."""

    newest: Event
    count: int = 0
    first: float = float("inf")
    last: float = 0.0
    objects: set[str] = field(default_factory=set)

    @property
    def problem(self) -> bool:
        return self.newest.type == "Warning"

    def line(self) -> str:
        """As Alloy's loki.source.kubernetes_events writes an event, naming the newest object."""
        event = self.newest
        more = f" objects={len(self.objects)}" if len(self.objects) > 1 else ""
        message = event.message.replace('"', "'")
        head = f"name={event.name} kind={event.kind}{more} type={event.type} reason={event.reason}"
        return f'{head} msg="{message}"'[:_LINE_LIMIT]

    def entries(self, most: int) -> list[tuple[float, str]]:
        """``count`` lines (at most ``most``) from first to last seen, so that clustered with other
        log lines the template's count, first and last read as they would from shipped events."""
        times = min(self.count, most)
        if times <= 1:
            return [(self.last, self.line())] if times else []
        step = (self.last - self.first) / (times - 1)
        return [(self.first + step * index, self.line()) for index in range(times)]


def digest(events: Iterable[Event]) -> list[Digest]:
    """One digest per type, reason and message; problems first (Warnings, the reasons that name
    why a pod does not run before the others), newest first within each."""
    merged: dict[tuple[str, str, str], Digest] = {}
    for event in events:
        into = merged.setdefault((event.type, event.reason, event.message), Digest(event))
        into.count += event.count
        into.first = min(into.first, event.first)
        if event.last >= into.last:
            into.last, into.newest = event.last, event
        into.objects.add(f"{event.kind}/{event.name}")
    return sorted(
        merged.values(),
        key=lambda d: (not d.problem, d.newest.reason not in PROBLEM_REASONS, -d.last, d.line()),
    )


def entries(digests: Iterable[Digest], max_lines: int, max_repeats: int) -> list[tuple[float, str]]:
    """The digests' lines in their order until ``max_lines``: the newest problems are never cut."""
    found: list[tuple[float, str]] = []
    for one in digests:
        if len(found) >= max_lines:
            break
        found.extend(one.entries(min(max_repeats, max_lines - len(found))))
    return sorted(found)
