"""A flat, read-only view of an enriched alert that rules are matched against."""

from __future__ import annotations

from dataclasses import dataclass

import schemas

# Labels naming the thing that alerts, most specific first.
TARGET_LABELS = (
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "horizontalpodautoscaler",
    "persistentvolumeclaim",
    "job_name",
    "container",
    "service",
    "instance",
    "node",
    "host",
    "job",
)
# Annotations that carry links, not facts about the alert.
SKIPPED_ANNOTATIONS = ("runbook_url", "dashboard", "grafana_url")


@dataclass(frozen=True)
class TextItem:
    """One searchable text: a log template, an annotation or a series' labels."""

    kind: str  # "log", "annotation" or "metric"
    text: str
    sample: str
    count: int
    line: str  # how it reads as an evidence line


@dataclass(frozen=True)
class SeriesItem:
    metric: schemas.MetricEvidence
    series: schemas.SeriesSummary

    @property
    def haystack(self) -> str:
        return f"{self.metric.name} {self.metric.query}"


def fmt(value: float | None) -> str:
    """Numbers as a person reads them: 3 significant digits, k/M/G/T for large ones."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _series_labels(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()) if key != "__name__")


def series_line(item: SeriesItem) -> str:
    s = item.series
    parts = [f"min {fmt(s.min)}", f"max {fmt(s.max)}", f"last {fmt(s.last)}"]
    if s.at_start is not None:
        parts.append(f"at alert start {fmt(s.at_start)}")
    if s.change_pct is not None:
        parts.append(f"change {s.change_pct:+.0f}%")
    if s.trend_per_min:
        parts.append(f"trend {fmt(s.trend_per_min)}/min")
    labels = _series_labels(s.labels)
    head = f"{item.metric.name}{{{labels}}}" if labels else item.metric.name
    events = f"; {'; '.join(s.events[:3])}" if s.events else ""
    return f"metric {head}: {', '.join(parts)}{events}"


def _log_line(template: schemas.LogTemplate) -> str:
    sample = template.sample if len(template.sample) <= 220 else template.sample[:217] + "..."
    first = template.first.strftime("%H:%M:%SZ")
    return f"log ({template.severity}, x{template.count}, first {first}): {sample}"


@dataclass(frozen=True)
class AlertView:
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    logs: list[TextItem]
    texts: list[TextItem]
    series: list[SeriesItem]
    errors: list[schemas.EnrichmentError]
    # The items joined by newlines: one search tells whether a pattern can match any item at all.
    logs_joined: str = ""
    texts_joined: str = ""
    # The same, lower-cased for the literal prefilters; None when not ASCII (case folding differs).
    logs_lowered: str | None = ""
    texts_lowered: str | None = ""

    @property
    def has_evidence(self) -> bool:
        return bool(self.logs or self.series)

    def variables(self) -> dict[str, str]:
        """What templates may use besides captures: every label, the target, the annotations."""
        found = dict(self.labels)
        found.setdefault("alertname", self.alertname or "alert")
        target = next((self.labels[key] for key in TARGET_LABELS if self.labels.get(key)), self.alertname)
        namespace = self.labels.get("namespace", "")
        found["target"] = f"{namespace}/{target}" if namespace and target != namespace else target
        found["volume"] = (
            self.labels.get("mountpoint") or self.labels.get("persistentvolumeclaim") or "the volume"
        )
        found["alert_summary"] = self.annotations.get("summary", "")
        found["alert_description"] = self.annotations.get("description", "")
        found["expr"] = self.annotations.get("expr", "")
        return found


def _lowered(text: str) -> str | None:
    return text.lower() if text.isascii() else None


def view_of(message: schemas.EnrichedAlert) -> AlertView:
    alert = message.alert
    evidence = message.evidence
    templates = evidence.logs.templates if evidence.logs else []
    order = {"error": 0, "warning": 1, "info": 2}
    ranked = sorted(templates, key=lambda t: (order.get(t.severity, 3), -t.count))
    logs = [TextItem("log", f"{t.template}\n{t.sample}", t.sample, t.count, _log_line(t)) for t in ranked]
    annotations = [
        TextItem("annotation", value, value, 1, f"annotation {key}: {value}")
        for key, value in sorted(alert.annotations.items())
        if key not in SKIPPED_ANNOTATIONS and value
    ]
    series = [SeriesItem(metric, s) for metric in evidence.metrics for s in metric.series]
    labelled = [
        TextItem("metric", _series_labels(item.series.labels), "", 1, series_line(item))
        for item in series
        if item.series.labels
    ]
    logs_joined = "\n".join(item.text for item in logs)
    texts_joined = "\n".join(item.text for item in (*logs, *annotations, *labelled))
    return AlertView(
        alertname=alert.labels.get("alertname", ""),
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        logs=logs,
        texts=logs + annotations + labelled,
        series=series,
        errors=list(evidence.errors),
        logs_joined=logs_joined,
        texts_joined=texts_joined,
        logs_lowered=_lowered(logs_joined),
        texts_lowered=_lowered(texts_joined),
    )
