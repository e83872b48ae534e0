"""PagerDuty Events API v2: trigger with the analysis, resolve on resolution.

The ``dedup_key`` is the alert's fingerprint, so a resolution closes the
incident its firing opened and re-sends of one alert stay one incident.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson

from schemas import label_fingerprint, service_of
from services.notifier._clip import clip
from services.notifier._http import Request
from services.notifier._kind import JSON_HEADERS, Destination, DestinationKind, DestinationSpec
from services.notifier._view import AlertView
from services.runtime import SettingsPart, doc

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
            "component": service_of(labels),
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


class PagerDutySpec(DestinationSpec, tag="pagerduty", kw_only=True, frozen=True):
    routing_key: str = ""


def _request(destination: Destination, v: AlertView, now: int) -> Request:
    return Request(destination.url, orjson.dumps(pagerduty_event(v, destination.secret)), JSON_HEADERS)


class PagerDutySettings(SettingsPart, kw_only=True, frozen=True):
    pagerduty_routing_key: Annotated[str, doc("PagerDuty Events API v2 integration key", secret=True)] = ""
    pagerduty_url: Annotated[str, doc("PagerDuty Events API v2 endpoint")] = (
        "https://events.pagerduty.com/v2/enqueue"
    )


def _from_settings(s: Any) -> list[Destination]:
    if not s.pagerduty_routing_key:
        return []
    return [
        Destination(
            name="pagerduty",
            type="pagerduty",
            url=s.pagerduty_url,
            secret=s.pagerduty_routing_key,
            send_resolved=True,
        )
    ]


# PagerDuty takes about 120 events a minute per integration.
KIND = DestinationKind(
    name="pagerduty",
    spec=PagerDutySpec,
    default_rate=2.0,
    default_url="https://events.pagerduty.com/v2/enqueue",
    secret_option="routing_key",
    settings=PagerDutySettings,
    from_settings=_from_settings,
    env_names={"url": "PAGERDUTY_URL", "routing_key": "PAGERDUTY_ROUTING_KEY"},
    render=_request,
)
