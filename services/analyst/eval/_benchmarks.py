"""The public benchmark inputs as labelled scenarios: each entry as the pipeline would publish it.

The inputs live outside the project (``../shared/benchmarks/``, read at run time, never copied);
the labels are the project's own (``tests/benchmarks/labels/``), keyed by the entry's index.
How an entry becomes an EnrichedAlert is described in docs/evaluation.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import msgspec
import yaml

import schemas
from services.analyst.eval._evidence import log_evidence, metric_evidence
from services.analyst.eval._paths import DEFAULT_LABELS_DIR, INCIDENTS_INPUT, RULES_INPUT
from services.analyst.eval._scenarios import Expected, Scenario
from services.analyst.eval._unmappable import Unmappable
from services.enricher._enrich import Limits, alert_window

# Every alert fires at the same instant; Alertmanager's default group_wait later the pipeline has it.
STARTS_AT = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
GROUP_WAIT = timedelta(seconds=30)
PROMETHEUS_URL = "http://prometheus:9090"


class Label(msgspec.Struct, frozen=True):
    index: int
    alert: str
    category: schemas.Category
    also: list[schemas.Category] = []
    why: str = ""
    id: str = ""


@dataclass
class BenchmarkSet:
    """One input's entries, those labelled ready to score, and what could not be used."""

    name: str
    entries: int = 0
    scenarios: list[Scenario] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Parts of entries (series, log streams) that could not be mapped and were left out.
    skipped_parts: int = 0

    @property
    def labelled(self) -> int:
        return len(self.scenarios)


def generator_url(expr: str) -> str:
    """The link Prometheus puts on an alert (``TableLinkForExpression``): Go's QueryEscape of the expr."""
    return f"{PROMETHEUS_URL}/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def _alert(name: str, labels: dict[str, str], annotations: dict[str, str], expr: str) -> schemas.Alert:
    all_labels = {**labels, "alertname": name}
    return schemas.Alert(
        status="firing",
        labels=all_labels,
        annotations=dict(annotations),
        starts_at=STARTS_AT,
        generator_url=generator_url(expr),
        fingerprint=schemas.label_fingerprint(all_labels),
    )


def _published(alert: schemas.Alert, evidence: schemas.Evidence) -> schemas.EnrichedAlert:
    received = alert.starts_at + GROUP_WAIT
    raw = schemas.RawAlert(id=schemas.alert_id(alert), alert=alert, received_at=received)
    return schemas.enriched(raw, evidence, received + timedelta(seconds=1))


def _window_evidence(alert: schemas.Alert, limits: Limits) -> tuple[Any, schemas.Evidence]:
    window = alert_window(alert, limits, alert.starts_at + GROUP_WAIT)
    empty = schemas.Evidence(
        window_start=datetime.fromtimestamp(window.start, UTC),
        window_end=datetime.fromtimestamp(window.end, UTC),
    )
    return window, empty


def rule_message(rule: dict[str, Any]) -> schemas.EnrichedAlert:
    """A public rule as fired against a Prometheus holding only its own series: no metrics, no logs."""
    alert = _alert(rule["alert"], rule.get("labels") or {}, rule.get("annotations") or {}, rule["expr"])
    return _published(alert, _window_evidence(alert, Limits())[1])


def incident_message(case: dict[str, Any]) -> tuple[schemas.EnrichedAlert, int]:
    """A peer incident with its logs and series as the enricher summarises them; and the parts skipped."""
    alert = _alert(case["alertname"], case.get("labels") or {}, case.get("annotations") or {}, case["expr"])
    limits = Limits()
    window, empty = _window_evidence(alert, limits)
    metrics, skipped = metric_evidence(case.get("series") or [], window, limits)
    try:
        logs, errors = log_evidence(alert, case.get("logs") or [], float(case.get("span_s", 600)), window)
    except Unmappable:
        logs, errors, skipped = None, [], skipped + 1
    evidence = msgspec.structs.replace(empty, metrics=metrics, logs=logs, errors=errors)
    return _published(alert, evidence), skipped


def load_labels(directory: Path, pattern: str) -> tuple[dict[int, Label], list[str]]:
    """Labels of every ``pattern`` file in ``directory`` by index; and what was wrong with them."""
    labels: dict[int, Label] = {}
    problems: list[str] = []
    for path in sorted(directory.glob(pattern)):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            entries = data.get("labels") or []
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            problems.append(f"{path.name}: not readable ({exc})")
            continue
        for entry in entries:
            try:
                label = msgspec.convert(entry, Label)
            except msgspec.ValidationError as exc:
                problems.append(f"{path.name}: entry {entry!r:.80} is not a label ({exc})")
                continue
            if label.index in labels and labels[label.index] != label:
                problems.append(f"{path.name}: index {label.index} is labelled twice; the first is kept")
                continue
            labels[label.index] = label
    return labels, problems


def _labelled(
    result: BenchmarkSet, index: int, name: str, message: schemas.EnrichedAlert, labels: dict[int, Label]
) -> None:
    label = labels.get(index)
    if label is None:
        return
    if label.alert != name:
        result.problems.append(f"label {index} names {label.alert!r} but the input has {name!r}: not scored")
        return
    expected = Expected(category=label.category, also=[c for c in label.also if c != label.category])
    scenario = Scenario(
        name=name, path=f"{result.name}#{index}", message=message, expected=expected, index=index
    )
    result.scenarios.append(scenario)


def _read(path: Path, key: str) -> list[dict[str, Any]]:
    entries = json.loads(path.read_text(encoding="utf-8"))[key]
    if not isinstance(entries, list):
        raise ValueError(f"{path}: {key!r} is not a list")
    return entries


def load_rules(benchmarks: Path, labels_dir: Path = DEFAULT_LABELS_DIR) -> BenchmarkSet:
    labels, problems = load_labels(labels_dir, "prometheus-rules*.yaml")
    result = BenchmarkSet(name="prometheus-rules", problems=problems)
    rules = _read(benchmarks / RULES_INPUT, "rules")
    result.entries = len(rules)
    for index, rule in enumerate(rules):
        try:
            message = rule_message(rule)
        except (KeyError, TypeError, AttributeError, msgspec.ValidationError) as exc:
            result.problems.append(f"rule {index}: cannot become an alert ({exc!r})")
            continue
        _labelled(result, index, str(rule["alert"]), message, labels)
    return result


def load_incidents(benchmarks: Path, labels_dir: Path = DEFAULT_LABELS_DIR) -> BenchmarkSet:
    labels, problems = load_labels(labels_dir, "holmesgpt-incidents*.yaml")
    result = BenchmarkSet(name="holmesgpt-incidents", problems=problems)
    cases = _read(benchmarks / INCIDENTS_INPUT, "cases")
    result.entries = len(cases)
    for index, case in enumerate(cases):
        try:
            message, skipped = incident_message(case)
        except (KeyError, TypeError, AttributeError, ValueError, msgspec.ValidationError) as exc:
            result.problems.append(f"case {index}: cannot become an alert ({exc!r})")
            continue
        result.skipped_parts += skipped
        _labelled(result, index, str(case["alertname"]), message, labels)
    return result
