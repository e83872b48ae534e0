"""The notifier's settings: destinations from the environment, or a routes file.

The general settings are below; each destination kind declares its own environment
variables in its module (its ``settings``, a ``SettingsPart``), and NotifierSettings
composes them in the registry's order (``_kinds.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from services.notifier._kinds import KINDS
from services.notifier._memory import MemorySettings
from services.runtime import StageSettings, doc, with_parts


class GeneralSettings(StageSettings, kw_only=True, frozen=True):
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 8003
    routes_file: Annotated[
        str, doc("YAML routes file mapping alerts to destinations; replaces the destination variables")
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
    notify_incident_update_seconds: Annotated[
        float,
        doc("At most one incident update per incident this often where messages cannot be edited (webhooks)"),
    ] = 300.0


if TYPE_CHECKING:
    # The kinds read their own fields by name (their ``from_settings``); typed code sees the general part.
    NotifierSettings = GeneralSettings
else:
    NotifierSettings = with_parts(
        "NotifierSettings", GeneralSettings, (*(kind.settings for kind in KINDS.values()), MemorySettings)
    )
