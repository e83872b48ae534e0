"""Alertmanager's webhook payload (version "4"), as Alertmanager sends it.

Field names follow Alertmanager's wire format (camelCase); unknown fields such
as ``notification_reason`` from newer releases are ignored on decode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

AlertStatus = Literal["firing", "resolved"]

LabelSet = dict[str, str]


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """One alert as Alertmanager describes it; also the ``alert`` of every pipeline message."""

    status: AlertStatus
    labels: LabelSet
    annotations: LabelSet = {}
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="startsAt")
    # Alertmanager sends 0001-01-01T00:00:00Z while an alert still fires.
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = msgspec.field(default=None, name="endsAt")
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: str = ""


class AlertmanagerWebhook(msgspec.Struct, kw_only=True, frozen=True):
    """The body of Alertmanager's webhook notification."""

    version: str = "4"
    group_key: str = msgspec.field(default="", name="groupKey")
    truncated_alerts: int = msgspec.field(default=0, name="truncatedAlerts")
    status: AlertStatus
    receiver: str = ""
    group_labels: LabelSet = msgspec.field(default_factory=dict, name="groupLabels")
    common_labels: LabelSet = msgspec.field(default_factory=dict, name="commonLabels")
    common_annotations: LabelSet = msgspec.field(default_factory=dict, name="commonAnnotations")
    external_url: str = msgspec.field(default="", name="externalURL")
    alerts: list[Alert]
