"""PagerDuty's Events API v2 (/v2/enqueue), locally, with its validation and answers.

202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``;
400 ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
429 when throttled.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.webhook import FakeHttpServer, Received, Reply

SEVERITIES = {"critical", "error", "warning", "info"}
THROTTLED = Reply(429, json.dumps({"status": "throttling event"}), content_type="application/json")


def event_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing and is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload") or {}
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") and payload["severity"] not in SEVERITIES:
            errors.append("'payload.severity' is invalid")
        if len(str(payload.get("summary", ""))) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
    return errors


def invalid(errors: list[str]) -> Reply:
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return Reply(400, json.dumps(body), content_type="application/json")


class FakePagerDuty(FakeHttpServer):
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    def default_reply(self, request: Received) -> Reply:
        try:
            event = json.loads(request.body)
        except ValueError:
            return invalid(["Event object is not valid JSON"])
        errors = event_errors(event)
        if errors:
            return invalid(errors)
        body = {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key", "")}
        return Reply(202, json.dumps(body), content_type="application/json")
