"""Labelled scenarios: an alert, the evidence the enricher would attach, the expected answer.

A scenario file is short YAML; times default to the alert's start, counts to plausible values:

    name: checkout crash loop caused by OOM kills
    expected: {category: memory_pressure, facts: [OOM, checkout-api]}
    alert: {labels: {...}, annotations: {...}, startsAt: "2024-05-14T09:12:00Z"}
    metrics: [{name: ..., query: ..., series: [{labels: {...}, min: 1, max: 2, last: 2, ...}]}]
    logs: [{severity: error, count: 12, sample: "..."}]
    errors: [{source: loki, reason: "..."}]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import yaml

import schemas

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "tests" / "scenarios"


class Expected(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    category: schemas.Category
    facts: list[str] = []
    # A second category the labeller found equally defensible; agreeing with it counts as right.
    also: list[schemas.Category] = []


class Scenario(msgspec.Struct, frozen=True):
    name: str
    path: str
    message: schemas.EnrichedAlert
    expected: Expected
    description: str = ""
    # Position in a public benchmark input; None for the project's own scenarios.
    index: int | None = None


def _series(raw: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads "6.1e8" as a string; every number here is a float.
    numbers = {key: float(value) for key, value in raw.items() if key not in ("labels", "events", "points")}
    low, high = numbers["min"], numbers["max"]
    return {"samples": 30, "mean": (low + high) / 2, "last": high, "labels": {}, **raw, **numbers}


def _templates(raw: list[dict[str, Any]], start: datetime) -> list[dict[str, Any]]:
    templates = []
    for item in raw:
        first = item.get("first", start - timedelta(minutes=5))
        templates.append(
            {
                "template": item.get("template", item["sample"]),
                "count": item.get("count", 1),
                "severity": item.get("severity", "error"),
                "first": first,
                "last": item.get("last", start + timedelta(minutes=2)),
                "sample": item["sample"],
            }
        )
    return templates


def build_message(data: dict[str, Any]) -> schemas.EnrichedAlert:
    """The EnrichedAlert a scenario describes, as the enricher would have published it."""
    alert_data = {"status": "firing", "fingerprint": "", **data["alert"]}
    alert = msgspec.convert(alert_data, schemas.Alert, strict=False)
    start = alert.starts_at
    metrics = [
        {**metric, "series": [_series(s) for s in metric.get("series", [])]}
        for metric in data.get("metrics", [])
    ]
    for metric in metrics:
        metric.setdefault("query", metric["name"])
        metric.setdefault("total_series", len(metric["series"]))
    logs = data.get("logs")
    evidence = {
        "window_start": start - timedelta(minutes=15),
        "window_end": start + timedelta(minutes=15),
        "metrics": metrics,
        "logs": {
            "query": "{...}",
            "lines": sum(t.get("count", 1) for t in logs),
            "templates": _templates(logs, start),
        }
        if logs
        else None,
        "errors": data.get("errors", []),
    }
    return schemas.EnrichedAlert(
        id=schemas.alert_id(alert),
        alert=alert,
        received_at=start + timedelta(seconds=5),
        enriched_at=start + timedelta(seconds=7),
        evidence=msgspec.convert(evidence, schemas.Evidence, strict=False),
    )


def _loader() -> type[yaml.SafeLoader]:
    # Timestamps stay strings so msgspec parses them with their time zone.
    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def load_scenario(path: Path) -> Scenario:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())
    try:
        return Scenario(
            name=data.get("name", path.stem),
            path=str(path),
            message=build_message(data),
            expected=msgspec.convert(data["expected"], Expected),
            description=data.get("description", ""),
        )
    except (KeyError, msgspec.ValidationError) as exc:
        raise ValueError(f"scenario {path}: {exc}") from exc


def load_scenarios(directory: Path = DEFAULT_DIR) -> list[Scenario]:
    return [load_scenario(path) for path in sorted(directory.glob("*.yaml"))]


def now() -> datetime:
    return datetime.now(UTC)
