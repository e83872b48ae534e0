"""What an alert says is failing (its causes), and the failure classes and technologies it is about.

Causes are the alert's own entities (not its node when it is about a pod, not its dependencies) when
the alert says its subject is unavailable or failing, plus "dependency=<name>" for each name others
may depend on it by, plus the symptom its failure produces elsewhere (a resolver down: "symptom=dns").
An alert whose entities meet another's causes is explained by it.
"""

from __future__ import annotations

from functools import lru_cache

import schemas
from services.incidents import _labels
from services.incidents._evidence import short_name
from services.incidents._kinds import SYMPTOM_WORDS, Kind, words_of
from services.incidents._technology import technologies

# Kinds an alert's causes are taken from; a pod or workload explains nothing beyond itself by name.
_CAUSE_KINDS = ("node", "host", "service", "zone", "volume")


class Place:
    """Own entities (the subject) and context entities (where the subject stands) of one alert."""

    def __init__(self) -> None:
        self.own: dict[str, None] = {}
        self.context: dict[str, None] = {}
        self._own_values: dict[str, dict[str, None]] = {}  # kind -> values, in order

    def add(self, kind: str, value: str, own: bool = True) -> None:
        if not value:
            return
        value = value.lower()
        if not own:
            self.context[f"{kind}={value}"] = None
            return
        self.own[f"{kind}={value}"] = None
        values = self._own_values.get(kind)
        if values is None:
            values = self._own_values[kind] = {}
        values[value] = None

    def values(self, kind: str) -> list[str]:
        return list(self._own_values.get(kind, ()))

    def short_values(self, *kinds: str) -> list[str]:
        return [value.rpartition("/")[2] for kind in kinds for value in self._own_values.get(kind, ())]


def about_symptoms(alert: schemas.Alert, own_names: list[str]) -> list[str]:
    """The failure classes an alert is about (a resolver, certificates, a full disk ...); ``own_names``:
    its services' and workloads' names (``Place.short_values("service", "workload")``)."""
    return list(_symptoms_said(alert.labels.get("alertname", ""), tuple(own_names)))


@lru_cache(maxsize=4096)
def _symptoms_said(alertname: str, own_names: tuple[str, ...]) -> tuple[str, ...]:
    """``about_symptoms`` by what decides it: a storm names a few rules and services."""
    said = {*words_of(alertname), *own_names}
    return tuple(
        symptom
        for symptom, (words, also) in SYMPTOM_WORDS.items()
        if not words.isdisjoint(said) and (not also or not also.isdisjoint(said))
    )


def about_technologies(alert: schemas.Alert, own_names: list[str]) -> list[str]:
    """The backing technologies an alert is about, by its name, job, service and workload
    ("RedisDown", job "postgres-exporter", "KafkaConsumerGroupLag"); ``own_names`` as ``about_symptoms``."""
    named = " ".join(
        [
            alert.labels.get("alertname", ""),
            alert.labels.get("job", ""),
            alert.labels.get("service", ""),
            *own_names,
        ]
    )
    return list(_technologies_named(named))


@lru_cache(maxsize=4096)
def _technologies_named(named: str) -> tuple[str, ...]:
    """``about_technologies`` by what decides it: a storm names a few rules, jobs and services."""
    return tuple(sorted(technologies(words_of(named))))


def _claim(volume: str) -> bool:
    """A PersistentVolumeClaim as ``namespace/claim`` (a share is ``server:/path``, a mount ``/path``)."""
    return "/" in volume and ":" not in volume and not volume.startswith("/")


def causes(kind: Kind, place: Place, symptoms: list[str], about: list[str]) -> frozenset[str]:
    """What an alert of this ``kind`` at this ``place`` says is failing; ``symptoms`` and ``about``: the
    failure classes and technologies it is about (``about_symptoms``, ``about_technologies``)."""
    causes: dict[str, None] = {}
    # An alert about a resolver, certificates or connection limits explains that symptom elsewhere,
    # failing or warning: x509 errors next to "certificate expires soon" are one story.
    for symptom in symptoms:
        causes[f"symptom={symptom}"] = None
    if "disk-full" in symptoms:
        volumes = place.values("volume")
        # the network share a claim is on (its PersistentVolume's NFS server and path) counts as shared
        shares = [entity.split("=", 1)[1] for entity in place.context if entity.startswith("volume=")]
        if not any(":" in v or "/" in v for v in [*volumes, *shares]):
            # A machine's own disk explains only writers on it (a link that needs a place: _score's
            # LOCAL_CAUSES); a network share explains its writers anywhere.
            del causes["symptom=disk-full"]
            causes["symptom=local-disk-full"] = None
        elif all(_claim(v) for v in [*volumes, *shares] if ":" in v or "/" in v):
            # A claim is mounted only by pods of its namespace: it explains the writers there.
            del causes["symptom=disk-full"]
            for volume in volumes:
                if _claim(volume):
                    causes[f"symptom=disk-full@{volume.split('/', 1)[0]}"] = None
    for technology in about:
        causes[f"technology={technology}"] = None
    if kind.failing and "kubernetes-api" in about:
        # Clients reach the API server as the "kubernetes" Service (_evidence: https://<any>/api/...).
        causes["dependency=kubernetes"] = None
    if not kind.failing:
        return frozenset(causes)
    for entity in place.own:
        entity_kind, _, value = entity.partition("=")
        if entity_kind in _CAUSE_KINDS:
            causes[entity] = None
        # the names others reach it by; a pod's own name too (a StatefulSet's pods are reached one by one)
        if entity_kind in ("service", "host", "workload", "node", "pod"):
            own_name = value.rpartition("/")[2]
            for name in (own_name, short_name(own_name)):
                causes[f"dependency={name}"] = None
                causes[f"needs={name}"] = None
    # A failing target of job "api" is "api" failing to those who depend on it by that name.
    for job in [name.removeprefix("job=") for name in place.context if name.startswith("job=")]:
        causes[f"dependency={job}"] = None
        causes[f"needs={job}"] = None
    return frozenset(causes)


def node_agents_of(labels: dict[str, str], kind: Kind, reporter: str) -> str:
    """Node agents (node-exporter, the kubelet, cAdvisor) run on every node, so a node that is down
    takes its agents' targets down: "node" when the alert says one node is unavailable (by its node
    labels or its node agent's instance), "job" when it says a node agent's targets are down as a
    whole (TargetDown by job: no instance, no node), "" otherwise. ``reporter``: ``_labels.reporter``."""
    if not kind.unavailable:
        return ""
    agent = reporter == "node"
    on_node = False
    for key in _labels.NODE_LABELS:
        if labels.get(key, "").strip():
            on_node = True
            break
    if agent and not on_node and not labels.get("instance"):
        return "job"
    return "node" if kind.node_level and (agent or on_node) else ""
