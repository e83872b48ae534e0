"""Generic webhooks: the analyzed message as JSON, signed, with an idempotency key.

Incident events are posted as they are on ``alerts.incidents.*`` (``schemas.IncidentEvent``),
signed the same way, with ``X-Aiops-Incident-Id`` and the event's own idempotency key.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec

import schemas
from services.notifier._http import Request, judge_http
from services.notifier._kind import (
    JSON_HEADERS,
    Destination,
    DestinationKind,
    IncidentExchange,
    Result,
    tagged,
)
from services.notifier._ledger import delivery_key, incident_key
from services.notifier._signing import signed_headers
from services.notifier._view import AlertView
from services.runtime import SettingsPart, doc


def webhook_request(destination: Destination, v: AlertView, now: int) -> Request:
    body = schemas.encode(v.message)
    headers = {
        **JSON_HEADERS,
        "X-Aiops-Alert-Id": v.message.id,
        # The same on every attempt of this delivery, so a receiver can answer a repeat from its record
        # (draft-ietf-httpapi-idempotency-key-header: a structured-field string, hence the quotes).
        "Idempotency-Key": f'"{delivery_key(v.message, destination.name).removeprefix("delivered.")}"',
        **signed_headers(destination.secret, now, body),
    }
    return Request(destination.url, body, headers)


def incident_request(destination: Destination, event: schemas.IncidentEvent, now: int) -> Request:
    body = schemas.encode(event)
    headers = {
        **JSON_HEADERS,
        "X-Aiops-Incident-Id": event.incident.id,
        "Idempotency-Key": f'"{incident_key(event, destination.name).removeprefix("incident.")}"',
        **signed_headers(destination.secret, now, body),
    }
    return Request(destination.url, body, headers)


async def _incident(x: IncidentExchange, d: Destination, event: schemas.IncidentEvent) -> Result:
    answer = await x.call(incident_request(d, event, int(time.time())))
    return Result(judge_http(answer), answer)


class WebhookSettings(SettingsPart, kw_only=True, frozen=True):
    generic_webhook_url: Annotated[
        list[str],
        doc("Webhook URL(s), comma-separated, that receive the analyzed alert as JSON", secret=True),
    ] = msgspec.field(default_factory=list)
    webhook_secret: Annotated[
        str,
        doc("Key of the HMAC-SHA256 signature on generic webhook posts (unsigned when empty)", secret=True),
    ] = ""


def _from_settings(s: Any) -> list[Destination]:
    urls: list[str] = s.generic_webhook_url
    return [
        Destination(
            name="webhook" if len(urls) == 1 else f"webhook-{index}",
            type="webhook",
            url=url,
            secret=s.webhook_secret,
            send_resolved=s.send_resolved,
        )
        for index, url in enumerate(urls, start=1)
    ]


KIND = DestinationKind(
    name="webhook",
    spec=tagged("webhook"),
    settings=WebhookSettings,
    from_settings=_from_settings,
    env_names={"url": "GENERIC_WEBHOOK_URL"},
    render=webhook_request,
    incident=_incident,
)
