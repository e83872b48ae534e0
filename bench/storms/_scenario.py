"""A storm scenario file (bench/storms/*.yaml, format in bench/storms/README.md) -> timed pipeline messages.

Alerts are delivered the way Alertmanager delivers them: grouped by ``group_by``, a group's first
notification ``group_wait`` after its first alert, later changes on the next ``group_interval`` tick.
Each message reaches the analyst ``pipeline_seconds`` after delivery (ingest + enrichment).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import yaml

import schemas
from services.incidents._simulate import Arrival
from services.incidents._topology import Topology, parse_topology

DIRECTORY = Path(__file__).resolve().parent
# Any fixed instant: every time in a scenario is an offset from it.
EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Alertmanager's defaults with kube-prometheus's grouping.
ALERTMANAGER = {"group_by": ["namespace"], "group_wait": 30.0, "group_interval": 300.0}
PIPELINE_SECONDS = 1.0

_PLACEHOLDER = re.compile(r"\{(i(?:%\d+)?|n|[^{}|]*\|[^{}]*)\}")


@dataclass(frozen=True)
class Storm:
    name: str
    path: Path
    modelled_on: str
    arrivals: list[Arrival]
    topology: Topology | None

    @property
    def causes(self) -> int:
        return len({arrival.truth for arrival in self.arrivals})


def _fill(value: Any, i: int) -> Any:
    """``{i}`` (0-based), ``{n}`` (1-based), ``{i%4}`` and ``{a|b|c}`` (the i-th, cycling) in every string."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            token = match.group(1)
            if token == "i":
                return str(i)
            if token == "n":
                return str(i + 1)
            if token.startswith("i%"):
                return str(i % int(token[2:]))
            options = token.split("|")
            return options[i % len(options)]

        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {key: _fill(item, i) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, i) for item in value]
    return value


def _episodes(
    spec: dict[str, Any], recovered: float | None
) -> list[tuple[float, float | None, dict[str, Any]]]:
    """(start, end, spec) of each alert a spec stands for: ``repeat`` copies, ``flap`` episodes.

    ``recovered``: when every alert without its own ``ends`` resolves (the scenario's ``recovered_at``).
    """
    out = []
    for i in range(int(spec.get("repeat", 1))):
        filled = _fill(spec, i)
        start = float(spec.get("at", 0)) + i * float(spec.get("every", 0))
        end = float(spec["ends"]) + i * float(spec.get("every", 0)) if "ends" in spec else recovered
        flap = spec.get("flap")
        if not flap:
            out.append((start, end, filled))
            continue
        for k in range(int(flap["times"])):
            begin = start + k * (float(flap["up"]) + float(flap["down"]))
            out.append((begin, begin + float(flap["up"]), filled))
    return out


def _evidence(spec: dict[str, Any], start: datetime) -> schemas.Evidence:
    logs = [str(line) for line in spec.get("logs", [])]
    templates = [
        schemas.LogTemplate(
            template=line,
            count=12,
            severity="error",
            first=start - timedelta(minutes=2),
            last=start,
            sample=line,
        )
        for line in logs
    ]
    metrics = [
        schemas.MetricEvidence(
            name=metric["name"],
            query=metric.get("query", metric["name"]),
            series=[schemas.SeriesSummary(labels=metric["labels"], samples=60, min=1, max=1, mean=1, last=1)],
            total_series=1,
        )
        for metric in spec.get("metrics", [])
    ]
    return schemas.Evidence(
        window_start=start - timedelta(minutes=15),
        window_end=start + timedelta(seconds=30),
        metrics=metrics,
        logs=schemas.LogEvidence(query="{...}", lines=12 * len(logs), templates=templates) if logs else None,
    )


def _fingerprint(labels: dict[str, str]) -> str:
    canonical = "".join(f"{k}\xff{v}\xff" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _generator_url(expr: str) -> str:
    # Where the pipeline reads a rule's PromQL from (schemas.Alert.rule_expression), as Prometheus writes it.
    return f"http://prometheus:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1" if expr else ""


def _group_key(labels: dict[str, str], group_by: list[str]) -> tuple[str, schemas.LabelSet]:
    grouped = {name: labels[name] for name in group_by if name in labels}
    inner = ", ".join(f'{name}="{value}"' for name, value in sorted(grouped.items()))
    return "{}:{" + inner + "}", grouped


class _Delivery:
    """When Alertmanager sends a change of an alert: per group, first after group_wait, then on ticks."""

    def __init__(self, group_wait: float, group_interval: float) -> None:
        self._wait, self._interval = group_wait, group_interval
        self._first_flush: dict[str, float] = {}

    def at(self, group: str, changed: float) -> float:
        first = self._first_flush.setdefault(group, changed + self._wait)
        if changed <= first:
            return first
        ticks = -(-(changed - first) // self._interval)
        return first + ticks * self._interval


_KEYS = {"name", "modelled_on", "external_labels", "alertmanager", "recovered_at", "topology", "alerts"}
_ALERT_KEYS = {
    "incident",
    "at",
    "ends",
    "labels",
    "annotations",
    "expr",
    "logs",
    "metrics",
    "repeat",
    "every",
    "flap",
}


def _check_keys(path: Path, data: dict[str, Any]) -> None:
    """A misspelt key would silently change a storm: refuse it (``x-`` keys hold YAML anchors)."""
    unknown = {key for key in data if key not in _KEYS and not str(key).startswith("x-")}
    for spec in data.get("alerts") or []:
        unknown |= set(spec) - _ALERT_KEYS
        if "incident" not in spec:
            raise ValueError(f"{path}: an alert without `incident` (its true incident): {spec.get('labels')}")
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")


def load_storm(path: Path) -> Storm:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    _check_keys(path, data)
    manager = {**ALERTMANAGER, **data.get("alertmanager", {})}
    external = {str(k): str(v) for k, v in (data.get("external_labels") or {}).items()}
    delivery = _Delivery(float(manager["group_wait"]), float(manager["group_interval"]))
    # (time of the change, status, spec, labels, start, end)
    changes: list[tuple[float, schemas.AlertStatus, dict[str, Any], dict[str, str], float, float | None]] = []
    recovered = float(data["recovered_at"]) if "recovered_at" in data else None
    for spec in data["alerts"]:
        for start, end, filled in _episodes(spec, recovered):
            extra = external if filled.get("external", True) else {}
            # An empty label value is no label, as in Prometheus.
            labels = {
                k: v
                for k, v in {**extra, **{str(k): str(v) for k, v in filled["labels"].items()}}.items()
                if v
            }
            changes.append((start, "firing", filled, labels, start, end))
            if end is not None and end <= start:
                raise ValueError(f"{path}: an alert ends ({end:g}s) before it starts ({start:g}s)")
            if end is not None:
                changes.append((end, "resolved", filled, labels, start, end))
    arrivals = []
    for changed, status, spec, labels, start, end in sorted(changes, key=lambda change: change[0]):
        group_key, group_labels = _group_key(labels, list(manager["group_by"]))
        sent = EPOCH + timedelta(seconds=delivery.at(group_key, changed))
        starts_at = EPOCH + timedelta(seconds=start)
        alert = schemas.Alert(
            status=status,
            labels=labels,
            annotations={str(k): str(v) for k, v in (spec.get("annotations") or {}).items()},
            starts_at=starts_at,
            ends_at=EPOCH + timedelta(seconds=end) if status == "resolved" and end is not None else None,
            generator_url=_generator_url(spec.get("expr", "")),
            fingerprint=_fingerprint(labels),
        )
        message = schemas.EnrichedAlert(
            id=schemas.alert_id(alert),
            alert=alert,
            group=schemas.GroupContext(receiver="default", group_key=group_key, group_labels=group_labels),
            received_at=sent,
            evidence=_evidence(spec, starts_at),
            enriched_at=sent + timedelta(seconds=PIPELINE_SECONDS),
        )
        arrivals.append(Arrival(sent + timedelta(seconds=PIPELINE_SECONDS), message, str(spec["incident"])))
    topology = parse_topology(data["topology"], f"{path}: topology") if "topology" in data else None
    return Storm(
        data.get("name", path.stem), path, str(data.get("modelled_on", "")).strip(), arrivals, topology
    )


def load_storms(directory: Path = DIRECTORY, only: str = "") -> list[Storm]:
    paths = sorted(directory.glob("*.yaml"))
    return [load_storm(path) for path in paths if only in path.stem]


def describe(storm: Storm) -> str:
    firing = sum(1 for arrival in storm.arrivals if arrival.message.alert.status == "firing")
    return f"{storm.name}: {firing} alerts, {storm.causes} causes"
