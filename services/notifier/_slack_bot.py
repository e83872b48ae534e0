"""Slack's Web API with a bot token: ``chat.postMessage`` and ``chat.update``.

Unlike an incoming webhook, the Web API answers HTTP 200 for most failures, with
``{"ok": false, "error": "channel_not_found"}``; only rate limiting is a 429 (with
``Retry-After``). A successful post names its ``channel`` and ``ts``, the handle a
later ``chat.update`` or a thread reply (``thread_ts``) needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from services.notifier._http import Answer, Request, Verdict, judge_http
from services.notifier._kind import JSON_HEADERS, Destination, DestinationSpec

API_URL = "https://slack.com/api"
# Web API answers echo the whole message: read all of it, not just the start a verdict needs.
ANSWER_LIMIT = 64_000
# Errors Slack documents as transient; every other error is a setting or a payload to fix.
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackSpec(DestinationSpec, tag="slack", kw_only=True, frozen=True):
    """``url`` is the incoming webhook; with ``token`` (a bot token) and ``channel``, the Web API's base."""

    token: str = ""
    channel: str = ""
    # "Confirm" / "Wrong cause" buttons on messages (SLACK_INTERACTIVITY); clicks go to the console.
    buttons: bool = False


@dataclass(frozen=True)
class Bot:
    token: str
    channel: str
    api_url: str


def bot(destination: Destination) -> Bot | None:
    """The bot a Slack destination posts as, or None for an incoming webhook."""
    options = destination.options
    if isinstance(options, SlackSpec) and options.token:
        return Bot(options.token, options.channel, destination.url.rstrip("/"))
    return None


def api_request(b: Bot, method: str, payload: dict[str, Any]) -> Request:
    headers = {
        **JSON_HEADERS,
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {b.token}",
    }
    body = orjson.dumps({"channel": b.channel, **payload})
    return Request(f"{b.api_url}/{method}", body, headers, answer_limit=ANSWER_LIMIT)


class Reply(msgspec.Struct, kw_only=True, frozen=True):
    ok: bool = False
    error: str = ""
    channel: str = ""
    ts: str = ""


def reply(answer: Answer) -> Reply | None:
    """The Web API's answer, None when the body is not one (a proxy's page, a webhook's "ok")."""
    try:
        return msgspec.json.decode(answer.body.encode(), type=Reply)
    except msgspec.DecodeError:
        return None


def judge(answer: Answer) -> Verdict:
    """A webhook's answers mean what HTTP says; the Web API's 200 means what its ``ok`` says."""
    if answer.status != 200 or not answer.body.startswith("{"):
        return judge_http(answer)
    said = reply(answer)
    if said is None:
        return "retry"
    if said.ok:
        return "delivered"
    return "retry" if said.error in TRANSIENT else "rejected"
