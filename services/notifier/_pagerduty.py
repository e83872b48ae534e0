"""PagerDuty Events API v2: trigger with the analysis, resolve on resolution.

The ``dedup_key`` is the alert's fingerprint, so a resolution closes the
incident its firing opened and re-sends of one alert stay one incident.
"""

from __future__ import annotations

from typing import Any

from schemas import label_fingerprint
from services.notifier._clip import clip
from services.notifier._view import AlertView

SUMMARY_LIMIT = 1024
# PagerDuty knows four severities; Prometheus rules use these names and a few more.
SEVERITY = {"critical": "critical", "error": "error", "high": "error", "warning": "warning", "info": "info"}


def dedup_key(v: AlertView) -> str:
    return v.alert.fingerprint or label_fingerprint(v.alert.labels)


def pagerduty_event(v: AlertView, routing_key: str) -> dict[str, Any]:
    if v.resolved:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(v)}
    a, labels = v.analysis, v.alert.labels
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(v),
        "payload": {
            "summary": clip(f"[{v.severity.upper()}] {v.name}: {a.summary}", SUMMARY_LIMIT),
            "source": v.where or "aiops-pipeline",
            "severity": SEVERITY.get(v.severity, "error"),
            "timestamp": v.alert.starts_at.isoformat(),
            "component": labels.get("service") or labels.get("job", ""),
            "group": labels.get("namespace", ""),
            "class": a.category,
            "custom_details": {
                "root_cause": a.root_cause,
                "category": a.category,
                "confidence": a.confidence,
                "evidence": a.evidence,
                "remediation": a.remediation,
                "analyzer": v.analyzer_text,
                "labels": labels,
                "annotations": v.alert.annotations,
                "alert_id": v.message.id,
            },
        },
        "links": [{"href": link.url, "text": link.text} for link in v.links],
        "client": "aiops-pipeline",
        **({"client_url": v.alert.generator_url} if v.alert.generator_url else {}),
    }
