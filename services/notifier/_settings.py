"""The notifier's settings: destinations from the environment, or a routes file."""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.runtime import StageSettings, doc


class NotifierSettings(StageSettings, kw_only=True, frozen=True):
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 8003
    slack_webhook_url: Annotated[str, doc("Slack incoming webhook URL", secret=True)] = ""
    generic_webhook_url: Annotated[
        list[str],
        doc("Webhook URL(s), comma-separated, that receive the analyzed alert as JSON", secret=True),
    ] = msgspec.field(default_factory=list)
    webhook_secret: Annotated[
        str,
        doc("Key of the HMAC-SHA256 signature on generic webhook posts (unsigned when empty)", secret=True),
    ] = ""
    pagerduty_routing_key: Annotated[str, doc("PagerDuty Events API v2 integration key", secret=True)] = ""
    pagerduty_url: Annotated[str, doc("PagerDuty Events API v2 endpoint")] = (
        "https://events.pagerduty.com/v2/enqueue"
    )
    teams_webhook_url: Annotated[
        str, doc("Microsoft Teams incoming webhook / Workflows URL (Adaptive Card)", secret=True)
    ] = ""
    routes_file: Annotated[
        str, doc("YAML routes file mapping alerts to destinations; replaces the URLs above")
    ] = ""
    flap_guard_seconds: Annotated[
        float, doc("Stay quiet about alerts that resolve within this many seconds (0: off)")
    ] = 0.0
    send_resolved: Annotated[bool, doc("Send a follow-up when an alert resolves")] = True
    grafana_url: Annotated[str, doc("Grafana base URL; adds an Explore link to messages")] = ""
    grafana_datasource_uid: Annotated[str, doc("Prometheus data source uid for the Explore link")] = ""
    alertmanager_url: Annotated[
        str, doc("Alertmanager URL for silence links when the alert carries no externalURL")
    ] = ""
    notify_timeout_seconds: Annotated[float, doc("Timeout of one post to a destination")] = 10.0
    deliveries_bucket: Annotated[
        str, doc("JetStream key-value bucket recording deliveries (no double post on redelivery)")
    ] = "aiops-deliveries"
    deliveries_ttl_hours: Annotated[float, doc("How long a delivery record is kept")] = 168.0
