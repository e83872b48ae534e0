"""What every message says about an alert, worked out once: title, labels, duration, links."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode, urlsplit

import schemas

KEY_LABELS = ("instance", "namespace", "pod", "service")
SEVERITY_ICON = {"critical": "🔥", "error": "🔴", "high": "🔴", "warning": "⚠️", "info": "ℹ️"}  # noqa: RUF001
EXPLORE_PADDING = timedelta(minutes=15)


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class LinkSettings:
    grafana_url: str = ""
    grafana_datasource_uid: str = ""
    alertmanager_url: str = ""


@dataclass(frozen=True)
class AlertView:
    message: schemas.AnalyzedAlert
    links: tuple[Link, ...]
    # What history remembers (_memory.py): "fired 3 times this week; last confirmed cause: …"; "" without.
    memory: str = ""

    @property
    def alert(self) -> schemas.Alert:
        return self.message.alert

    @property
    def analysis(self) -> schemas.Analysis:
        return self.message.analysis

    @property
    def name(self) -> str:
        return alert_name(self.alert)

    @property
    def severity(self) -> str:
        return self.alert.labels.get("severity", "none").lower()

    @property
    def resolved(self) -> bool:
        return self.alert.status == "resolved"

    @property
    def icon(self) -> str:
        return "✅" if self.resolved else SEVERITY_ICON.get(self.severity, "🔔")

    @property
    def badge(self) -> str:
        """The icon and the severity label; an alert without one shows none, not a made-up "NONE"."""
        label = self.alert.labels.get("severity")
        return f"{self.icon} {label.upper()}" if label else self.icon

    @property
    def title(self) -> str:
        replay = f" · REPLAY {self.message.replay.id}" if self.message.replay is not None else ""
        return f"{self.badge} · {self.name} · {self.alert.status.upper()}{replay}"

    @property
    def where(self) -> str:
        """The most specific place the alert names, for one-line texts."""
        labels = self.alert.labels
        for key in ("pod", "instance", "service", "job", "namespace"):
            if labels.get(key):
                return labels[key]
        return ""

    @property
    def key_labels(self) -> list[tuple[str, str]]:
        return [(k, self.alert.labels[k]) for k in KEY_LABELS if self.alert.labels.get(k)]

    @property
    def confidence(self) -> str:
        return f"{round(self.analysis.confidence * 100)}%"

    @property
    def fired_for(self) -> timedelta | None:
        ends = self.alert.ends_at
        if ends is None:
            return None
        return max(ends - self.alert.starts_at, timedelta(0))

    @property
    def fired_for_text(self) -> str:
        return (
            schemas.duration(self.fired_for.total_seconds())
            if self.fired_for is not None
            else "an unknown time"
        )

    @property
    def analyzer_text(self) -> str:
        a = self.analysis
        if a.analyzer == "rules" and a.model.startswith("rules:"):
            # The rules analyst's "model" is the rule that answered: "rule node-down", not
            # "rules (rules:node-down)", which reads like a typo in every message.
            text = f"rule {a.model.removeprefix('rules:')}"
        else:
            text = f"{a.analyzer} ({a.model})" if a.model else a.analyzer
        return f"{text}, degraded: {a.degraded_reason or 'LLM unavailable'}" if a.degraded else text


def alert_name(alert: schemas.Alert) -> str:
    return alert.labels.get("alertname", "unnamed alert")


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(url) <= 3000


def _matcher_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def silence_url(external_url: str, labels: dict[str, str]) -> str:
    """Alertmanager's "new silence" form, pre-filled with the alert's own matchers."""
    ordered = sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
    matchers = ", ".join(f'{k}="{_matcher_value(v)}"' for k, v in ordered)
    return f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}"


def explore_url(grafana_url: str, datasource_uid: str, alert: schemas.Alert) -> str:
    start = alert.starts_at - EXPLORE_PADDING
    ends = alert.ends_at
    query: dict[str, object] = {"refId": "A", "expr": alert.rule_expression}
    if datasource_uid:
        query["datasource"] = {"type": "prometheus", "uid": datasource_uid}
    pane = {
        "datasource": datasource_uid or None,
        "queries": [query],
        "range": {
            "from": str(int(start.timestamp() * 1000)),
            "to": str(int((ends + EXPLORE_PADDING).timestamp() * 1000)) if ends else "now",
        },
    }
    params = {"schemaVersion": "1", "orgId": "1", "panes": json.dumps({"a": pane}, separators=(",", ":"))}
    return f"{grafana_url.rstrip('/')}/explore?{urlencode(params)}"


def view(message: schemas.AnalyzedAlert, settings: LinkSettings, memory: str = "") -> AlertView:
    alert = message.alert
    links: list[Link] = []
    if alert.generator_url:
        links.append(Link("Prometheus graph", alert.generator_url))
    external = message.group.external_url or settings.alertmanager_url
    if external and message.alert.status != "resolved":
        links.append(Link("Silence", silence_url(external, alert.labels)))
    runbook = alert.annotations.get("runbook_url") or alert.annotations.get("runbook", "")
    if runbook:
        links.append(Link("Runbook", runbook))
    if settings.grafana_url and alert.rule_expression:
        links.append(
            Link("Grafana Explore", explore_url(settings.grafana_url, settings.grafana_datasource_uid, alert))
        )
    shown = tuple(link for link in links if is_web_url(link.url))
    return AlertView(message=message, links=shown, memory=memory)
