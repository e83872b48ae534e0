"""Where notifications go: a named destination of one kind, with its own pacing and options."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from services.runtime import ConfigError

Kind = Literal["slack", "webhook", "pagerduty", "teams", "log"]

# Names end up in KV keys and metric labels, so they stay short and plain.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Slack allows about one message per second per webhook; PagerDuty about 120 events a minute.
DEFAULT_RATE: dict[str, float] = {"slack": 1.0, "teams": 1.0, "pagerduty": 2.0, "webhook": 0.0, "log": 0.0}


class Destination(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    type: Kind
    url: str = ""
    # HMAC key of a webhook; the routing key of a PagerDuty service.
    secret: str = ""
    send_resolved: bool = True
    # Posts per second; 0 means unpaced.
    rate_per_second: float = -1.0

    def __repr__(self) -> str:
        # URLs of Slack and Teams webhooks are credentials: never print them.
        return f"Destination(name={self.name!r}, type={self.type!r})"

    __str__ = __repr__

    @property
    def rate(self) -> float:
        return DEFAULT_RATE[self.type] if self.rate_per_second < 0 else self.rate_per_second


def validate(destination: Destination) -> Destination:
    """Raise ConfigError naming the destination (never its URL or secret) when it cannot work."""
    if not NAME_RE.match(destination.name):
        raise ConfigError(f"destination name {destination.name!r} must match {NAME_RE.pattern}")
    if destination.type in ("slack", "webhook", "teams", "pagerduty"):
        parts = urlsplit(destination.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"destination {destination.name!r} needs an http(s) url")
    if destination.type == "pagerduty" and not destination.secret:
        raise ConfigError(f"destination {destination.name!r} needs a routing_key")
    return destination


def from_environment(
    *,
    slack_url: str,
    webhook_urls: list[str],
    webhook_secret: str,
    pagerduty_key: str,
    pagerduty_url: str,
    teams_url: str,
    send_resolved: bool,
) -> list[Destination]:
    """The destinations the plain environment variables describe, in a stable order."""
    found: list[Destination] = []
    if slack_url:
        found.append(Destination(name="slack", type="slack", url=slack_url, send_resolved=send_resolved))
    for index, url in enumerate(webhook_urls, start=1):
        name = "webhook" if len(webhook_urls) == 1 else f"webhook-{index}"
        found.append(
            Destination(
                name=name, type="webhook", url=url, secret=webhook_secret, send_resolved=send_resolved
            )
        )
    if pagerduty_key:
        found.append(
            Destination(
                name="pagerduty",
                type="pagerduty",
                url=pagerduty_url,
                secret=pagerduty_key,
                send_resolved=True,
            )
        )
    if teams_url:
        found.append(Destination(name="teams", type="teams", url=teams_url, send_resolved=send_resolved))
    return [validate(d) for d in found]
