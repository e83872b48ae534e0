"""Slack incoming-webhook messages: Block Kit inside a coloured attachment.

Slack rejects the whole payload (``invalid_payload``) when one limit is broken,
so every text is clipped to its limit here, visibly, and empty texts are left out.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson

from services.notifier._clip import clip
from services.notifier._http import Request
from services.notifier._kind import JSON_HEADERS, Destination, DestinationKind, tagged
from services.notifier._view import AlertView
from services.runtime import SettingsPart, doc

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_CONTEXT_ELEMENTS = 10
FALLBACK_LIMIT = 3000

COLOURS = {
    "critical": "#E01E5A",
    "error": "#E8712D",
    "high": "#E8712D",
    "warning": "#ECB22E",
    "info": "#36C5F0",
}
RESOLVED_COLOUR = "#2EB67D"
OTHER_COLOUR = "#9E9E9E"

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters; anything else is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, text: str) -> str:
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe_url}|{escape(text)}>"


def _section(text: str) -> list[Block]:
    text = text.strip()
    if not text:
        return []
    return [{"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}]


def _fields(pairs: list[tuple[str, str]]) -> list[Block]:
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{escape(k)}*\n{escape(v)}", FIELD_LIMIT)} for k, v in pairs if v
    ][:MAX_FIELDS]
    return [{"type": "section", "fields": fields}] if fields else []


def _context(parts: list[str]) -> list[Block]:
    elements = [{"type": "mrkdwn", "text": clip(p, SECTION_LIMIT)} for p in parts if p][:MAX_CONTEXT_ELEMENTS]
    return [{"type": "context", "elements": elements}] if elements else []


def _bullets(items: list[str], numbered: bool) -> str:
    marks = [f"{i}." if numbered else "•" for i in range(1, len(items) + 1)]
    return "\n".join(f"{mark} {escape(item)}" for mark, item in zip(marks, items, strict=True))


def colour(v: AlertView) -> str:
    return RESOLVED_COLOUR if v.resolved else COLOURS.get(v.severity, OTHER_COLOUR)


def _links(v: AlertView) -> list[Block]:
    return _section(" · ".join(_link(link.url, link.text) for link in v.links))


def _firing_blocks(v: AlertView) -> list[Block]:
    a = v.analysis
    cause = f"*Root cause* — `{a.category}`, {v.confidence} confidence\n{escape(a.root_cause)}"
    started = v.alert.starts_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(v.title, HEADER_LIMIT), "emoji": True},
        },
        *_section(escape(a.summary)),
        *_section(cause),
        *(_section("*Evidence*\n" + _bullets(a.evidence, numbered=False)) if a.evidence else []),
        *(_section("*Remediation*\n" + _bullets(a.remediation, numbered=True)) if a.remediation else []),
        *_fields(v.key_labels),
        *_links(v),
        *_context([f"started {started}", f"analyzer: {escape(v.analyzer_text)}", f"id `{v.message.id}`"]),
    ]


def _resolved_blocks(v: AlertView) -> list[Block]:
    where = f" on {escape(v.where)}" if v.where else ""
    text = (
        f"*{escape(v.name)}*{where} resolved after *{v.fired_for_text}*.\n"
        f"*Root cause* (`{v.analysis.category}`): {escape(v.analysis.root_cause)}"
    )
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(v.title, HEADER_LIMIT), "emoji": True},
        },
        *_section(text),
        *_links(v),
        *_context([f"id `{v.message.id}`"]),
    ]


def fallback_text(v: AlertView) -> str:
    """The notification text phones and screen readers show."""
    if v.resolved:
        return clip(escape(f"{v.icon} RESOLVED {v.name} after {v.fired_for_text}"), FALLBACK_LIMIT)
    return clip(escape(f"{v.icon} [{v.severity.upper()}] {v.name}: {v.analysis.summary}"), FALLBACK_LIMIT)


def slack_message(v: AlertView) -> dict[str, Any]:
    blocks = _resolved_blocks(v) if v.resolved else _firing_blocks(v)
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], *_context(["(message shortened)"])]
    return {"text": fallback_text(v), "attachments": [{"color": colour(v), "blocks": blocks}]}


def _request(destination: Destination, v: AlertView, now: int) -> Request:
    return Request(destination.url, orjson.dumps(slack_message(v)), JSON_HEADERS)


class SlackSettings(SettingsPart, kw_only=True, frozen=True):
    slack_webhook_url: Annotated[str, doc("Slack incoming webhook URL", secret=True)] = ""


def _from_settings(s: Any) -> list[Destination]:
    if not s.slack_webhook_url:
        return []
    return [Destination(name="slack", type="slack", url=s.slack_webhook_url, send_resolved=s.send_resolved)]


# Slack allows about one message per second per webhook.
KIND = DestinationKind(
    name="slack",
    spec=tagged("slack"),
    default_rate=1.0,
    settings=SlackSettings,
    from_settings=_from_settings,
    env_names={"url": "SLACK_WEBHOOK_URL"},
    render=_request,
)
