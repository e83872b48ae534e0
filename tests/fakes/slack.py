"""Slack's incoming webhook, locally: answers as Slack does, and checks Block Kit like Slack.

Slack answers 200 ``ok``; 400 ``invalid_payload`` when a block breaks a limit;
404 ``no_service``, 403 ``action_prohibited``; 429 ``rate_limited`` with
``Retry-After``; 500 ``rollup_error``.

Under ``/api/`` it is the Web API a bot token uses (``chat.postMessage``, ``chat.update``),
answering as Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` on errors
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``invalid_blocks``,
``message_not_found``, ``thread_not_found``), ``channel`` and ``ts`` on success, and 429
``ratelimited`` with ``Retry-After``. It keeps the channel's messages and their threads.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.fakes.webhook import FakeHttpServer, Received, Reply

OK = Reply(200, "ok")
INVALID_PAYLOAD = Reply(400, "invalid_payload")
NO_SERVICE = Reply(404, "no_service")
SERVER_ERROR = Reply(500, "rollup_error")


BOT_TOKEN = "xoxb-1111-2222-fake"
CHANNEL_ID = "C0INCIDENTS"
# What chat.postMessage accepts as a channel; chat.update takes the id only, as Slack's does.
CHANNEL_NAMES = {CHANNEL_ID: CHANNEL_ID, "#incidents": CHANNEL_ID, "incidents": CHANNEL_ID}


def rate_limited(retry_after: int = 1) -> Reply:
    return Reply(429, "rate_limited", {"Retry-After": str(retry_after)})


def api_answer(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body), headers or {}, content_type="application/json")


def api_error(error: str) -> Reply:
    return api_answer({"ok": False, "error": error})


def api_rate_limited(retry_after: int = 1) -> Reply:
    return api_answer({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _text_ok(obj: Any, limit: int) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("text"), str) and 0 < _units(obj["text"]) <= limit


def block_kit_violations(payload: Any) -> list[str]:
    """The limits Slack enforces on blocks (https://api.slack.com/reference/block-kit/blocks)."""
    problems: list[str] = []
    if not isinstance(payload, dict):
        return ["payload is not an object"]
    blocks = list(payload.get("blocks", []))
    for attachment in payload.get("attachments", []):
        blocks += attachment.get("blocks", [])
    if not blocks and not payload.get("text"):
        problems.append("no text and no blocks")
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks (max 50)")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not _text_ok(text, 150):
                problems.append(f"block {i}: header text must be plain_text of 1..150 chars")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"block {i}: section without text or fields")
            if "text" in block and not _text_ok(block["text"], 3000):
                problems.append(f"block {i}: section text must be 1..3000 chars")
            fields = block.get("fields", [])
            if len(fields) > 10 or not all(_text_ok(f, 2000) for f in fields):
                problems.append(f"block {i}: at most 10 fields of 1..2000 chars")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10 or not all(_text_ok(e, 3000) for e in elements):
                problems.append(f"block {i}: context needs 1..10 elements")
        elif kind not in ("divider", "actions", "image"):
            problems.append(f"block {i}: unknown type {kind!r}")
    return problems


class FakeSlack(FakeHttpServer):
    def __init__(self) -> None:
        super().__init__()
        # Top-level messages by ts, as last posted or updated; replies by their parent's ts.
        self.messages: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def calls(self, method: str) -> list[dict[str, Any]]:
        """The payloads of the Web API calls of ``method`` that Slack accepted."""
        return [
            r.json()
            for r in self.received
            if r.path == f"/api/{method}" and r.reply.status == 200 and json.loads(r.reply.body).get("ok")
        ]

    def default_reply(self, request: Received) -> Reply:
        if request.path.startswith("/api/"):
            return self._web_api(request.path.removeprefix("/api/"), request)
        try:
            payload = json.loads(request.body)
        except ValueError:
            return INVALID_PAYLOAD
        return INVALID_PAYLOAD if block_kit_violations(payload) else OK

    def _web_api(self, method: str, request: Received) -> Reply:
        auth = request.headers.get("Authorization", "")
        if not auth:
            return api_error("not_authed")
        if auth != f"Bearer {BOT_TOKEN}":
            return api_error("invalid_auth")
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return api_error("invalid_arguments")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return api_error("invalid_json")
        channel = CHANNEL_NAMES.get(payload.get("channel", ""))
        if channel is None:
            return api_error("channel_not_found")
        if block_kit_violations(payload):
            return api_error("invalid_blocks")
        if method == "chat.postMessage":
            return self._post(channel, payload)
        if method == "chat.update":
            ts = payload.get("ts", "")
            if payload["channel"] != channel or ts not in self.messages:
                return api_error(
                    "message_not_found" if payload["channel"] == channel else "channel_not_found"
                )
            self.messages[ts] = payload
            return api_answer({"ok": True, "channel": channel, "ts": ts, "text": payload.get("text", "")})
        return api_error("unknown_method")

    def _post(self, channel: str, payload: dict[str, Any]) -> Reply:
        parent = payload.get("thread_ts")
        if parent is not None and parent not in self.messages:
            return api_error("thread_not_found")
        n = next(self._ts)
        ts = f"{1790000000 + n}.{n:06d}"
        if parent is None:
            self.messages[ts] = payload
        else:
            self.threads.setdefault(parent, []).append(payload)
        message = {"type": "message", "text": payload.get("text", ""), "ts": ts, "bot_id": "B0FAKE"}
        return api_answer({"ok": True, "channel": channel, "ts": ts, "message": message})
