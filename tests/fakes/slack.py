"""Slack's incoming webhook, locally: answers as Slack does, and checks Block Kit like Slack.

Slack answers 200 ``ok``; 400 ``invalid_payload`` when a block breaks a limit;
404 ``no_service``, 403 ``action_prohibited``; 429 ``rate_limited`` with
``Retry-After``; 500 ``rollup_error``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.webhook import FakeHttpServer, Received, Reply

OK = Reply(200, "ok")
INVALID_PAYLOAD = Reply(400, "invalid_payload")
NO_SERVICE = Reply(404, "no_service")
SERVER_ERROR = Reply(500, "rollup_error")


def rate_limited(retry_after: int = 1) -> Reply:
    return Reply(429, "rate_limited", {"Retry-After": str(retry_after)})


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
    def default_reply(self, request: Received) -> Reply:
        try:
            payload = json.loads(request.body)
        except ValueError:
            return INVALID_PAYLOAD
        return INVALID_PAYLOAD if block_kit_violations(payload) else OK
