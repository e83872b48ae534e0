"""Opsgenie's Alert API v2, locally: create (/v2/alerts), close (/v2/alerts/{alias}/close), count.

As documented: ``Authorization: GenieKey <key>``; 202 ``{"result": "Request will be
processed", "took": ..., "requestId": ...}``; 401 ``{"message": "Could not authenticate"}``;
422 ``{"message": "Request body is not processable...", "errors": {...}}``; 429 when
throttled. Alerts are kept by alias, so dedupe and close can be asserted.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.fakes.webhook import FakeHttpServer, Received, Reply

PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}
MAX_LENGTH = {"message": 130, "alias": 512, "description": 15000, "entity": 512, "source": 100}


def _json(status: int, body: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps({**body, "took": 0.01}), content_type="application/json")


def accepted() -> Reply:
    return _json(202, {"result": "Request will be processed", "requestId": str(uuid.uuid4())})


UNAUTHORIZED = _json(401, {"message": "Could not authenticate"})
THROTTLED = Reply(429, json.dumps({"message": "Too many requests"}), {"Retry-After": "9"}, "application/json")
SERVER_ERROR = _json(503, {"message": "Service unavailable"})


def alert_errors(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "Request body must be a JSON object"}
    errors = {}
    if not str(body.get("message", "")).strip():
        errors["message"] = "Message can not be empty."
    for name, limit in MAX_LENGTH.items():
        if len(str(body.get(name, ""))) > limit:
            errors[name] = f"{name} can not be longer than {limit} characters."
    if body.get("priority", "P3") not in PRIORITIES:
        errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
    tags = body.get("tags", [])
    if len(tags) > 20 or any(len(tag) > 50 for tag in tags):
        errors["tags"] = "At most 20 tags of at most 50 characters."
    details = body.get("details", {})
    if not all(isinstance(v, str) for v in details.values()):
        errors["details"] = "Details values must be strings."
    return errors


@dataclass
class Alert:
    body: dict[str, Any]
    status: str = "open"
    count: int = 1
    notes: list[str] = field(default_factory=list)


class FakeOpsgenie(FakeHttpServer):
    def __init__(self, key: str = "genie-key-0001") -> None:
        super().__init__()
        self.key = key
        self.alerts: dict[str, Alert] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def default_reply(self, request: Received) -> Reply:
        if request.headers.get("Authorization") != f"GenieKey {self.key}":
            return UNAUTHORIZED
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _json(400, {"message": "Request body is not valid JSON"})
        if request.method == "POST" and request.path == "/v2/alerts":
            return self._create(body)
        if request.method == "GET" and request.path == "/v2/alerts/count":
            opened = sum(1 for alert in self.alerts.values() if alert.status == "open")
            return _json(200, {"data": {"count": opened}, "requestId": str(uuid.uuid4())})
        parts = request.path.split("/")
        closing = len(parts) == 5 and parts[:3] == ["", "v2", "alerts"] and parts[4] == "close"
        if request.method == "POST" and closing:
            return self._close(unquote(parts[3]), request.query, body)
        return _json(404, {"message": "No handler found"})

    def _create(self, body: Any) -> Reply:
        errors = alert_errors(body)
        if errors:
            return _json(
                422,
                {"message": "Request body is not processable. Please check the errors.", "errors": errors},
            )
        alias = body.get("alias") or str(uuid.uuid4())
        known = self.alerts.get(alias)
        if known is not None and known.status == "open":
            known.count += 1  # Opsgenie's deduplication: same alias, one open alert
        else:
            self.alerts[alias] = Alert(body)
        return accepted()

    def _close(self, identifier: str, query: str, body: Any) -> Reply:
        kind = parse_qs(query).get("identifierType", ["id"])[0]
        if kind not in ("id", "alias", "tiny"):
            return _json(422, {"message": "identifierType should be one of [id, alias, tiny]"})
        alert = self.alerts.get(identifier) if kind == "alias" else None
        # The real API answers 202 at once and fails the request later; here a wrong alias is a 404.
        if alert is None:
            return _json(404, {"message": "Alert does not exist"})
        alert.status = "closed"
        alert.notes.append(str(body.get("note", "")))
        return accepted()
