"""The request each kind of destination gets for one alert."""

from __future__ import annotations

import orjson

import schemas
from services.notifier._destinations import Destination
from services.notifier._http import Request
from services.notifier._ledger import delivery_key
from services.notifier._pagerduty import pagerduty_event
from services.notifier._signing import signed_headers
from services.notifier._slack import slack_message
from services.notifier._teams import teams_message
from services.notifier._view import AlertView

JSON = {"Content-Type": "application/json", "User-Agent": "aiops-pipeline-notifier"}


def render(destination: Destination, v: AlertView, now: int) -> Request:
    if destination.type == "slack":
        return Request(destination.url, orjson.dumps(slack_message(v)), JSON)
    if destination.type == "teams":
        return Request(destination.url, orjson.dumps(teams_message(v)), JSON)
    if destination.type == "pagerduty":
        return Request(destination.url, orjson.dumps(pagerduty_event(v, destination.secret)), JSON)
    if destination.type == "webhook":
        body = schemas.encode(v.message)
        headers = {
            **JSON,
            "X-Aiops-Alert-Id": v.message.id,
            # The same on every attempt of this delivery, so a receiver can answer a repeat from its record
            # (draft-ietf-httpapi-idempotency-key-header: a structured-field string, hence the quotes).
            "Idempotency-Key": f'"{delivery_key(v.message, destination.name).removeprefix("delivered.")}"',
            **signed_headers(destination.secret, now, body),
        }
        return Request(destination.url, body, headers)
    raise ValueError(f"destination type {destination.type!r} does not post")
