"""Alertmanager's webhook payload (version "4"), as Alertmanager sends it.

Field names follow Alertmanager's wire format (camelCase); unknown fields such
as ``notification_reason`` from newer releases are ignored on decode.

What every stage needs to know about an alert is read here, once: its rule's PromQL
(``Alert.rule_expression``) and whether it has ended (``Alert.ends_at``, None while it fires).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import parse_qs, urlsplit

import msgspec

AlertStatus = Literal["firing", "resolved"]

LabelSet = dict[str, str]

# Go's zero time.Time: the endsAt Alertmanager sends while an alert still fires.
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


# Every re-send of an episode carries the same generatorURL: parse each one once.
@lru_cache(maxsize=4096)
def _rule_expression(generator_url: str) -> str:
    if not generator_url:
        return ""
    values = parse_qs(urlsplit(generator_url).query).get("g0.expr")
    return values[0].strip() if values else ""


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """One alert as Alertmanager describes it; also the ``alert`` of every pipeline message."""

    status: AlertStatus
    labels: LabelSet
    annotations: LabelSet = {}
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="startsAt")
    # None while the alert fires: Alertmanager's GO_ZERO_TIME placeholder is dropped on decode.
    ends_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = msgspec.field(default=None, name="endsAt")
    generator_url: str = msgspec.field(default="", name="generatorURL")
    fingerprint: str = ""

    def __post_init__(self) -> None:
        # Year 1 is no real end: normalised here so that no reader has to know the placeholder.
        if self.ends_at is not None and self.ends_at.year == 1:
            msgspec.structs.force_setattr(self, "ends_at", None)

    @property
    def rule_expression(self) -> str:
        """The rule's PromQL: the ``g0.expr`` Prometheus puts in generatorURL, "" when there is none."""
        return _rule_expression(self.generator_url)


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
