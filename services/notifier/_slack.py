"""Slack incoming-webhook messages: Block Kit inside a coloured attachment.

Slack rejects the whole payload (``invalid_payload``) when one limit is broken,
so every text is clipped to its limit here, visibly, and empty texts are left out.
With a bot token the same message goes through the Web API (``_slack_bot.py``), and
incidents become one message edited in place (``_slack_delivery.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson

import schemas
from services.notifier._clip import clip
from services.notifier._http import Request
from services.notifier._kind import (
    JSON_HEADERS,
    Destination,
    DestinationKind,
    IncidentExchange,
    Result,
    needs,
)
from services.notifier._slack_bot import API_URL, SlackSpec, api_request, bot, judge
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
        *(_section(f"_{escape(v.memory)}_") if v.memory else []),
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


def feedback_actions(target: str, target_id: str) -> list[Block]:
    """Buttons to judge the analysis; Slack sends a click to the console's /slack/actions, which
    reads the target from ``block_id`` (services/console/_slack_actions.py)."""

    def button(action: str, text: str, style: str) -> Block:
        label = {"type": "plain_text", "text": text}
        return {"type": "button", "action_id": action, "text": label, "style": style, "value": action}

    choices = [{"text": {"type": "plain_text", "text": c}, "value": c} for c in schemas.CATEGORIES]
    select = {
        "type": "static_select",
        "action_id": "aiops_category",
        "placeholder": {"type": "plain_text", "text": "Right category…"},
        "options": choices,
    }
    elements = [
        button("aiops_confirm", "Confirm", "primary"),
        button("aiops_wrong_cause", "Wrong cause", "danger"),
    ]
    # Slack's block_id limit is 255 characters; ids are far shorter.
    return [
        {
            "type": "actions",
            "block_id": f"aiops_feedback|{target}:{target_id}"[:255],
            "elements": [*elements, select],
        }
    ]


def slack_message(v: AlertView, buttons: bool = False) -> dict[str, Any]:
    blocks = _resolved_blocks(v) if v.resolved else _firing_blocks(v)
    if buttons and not v.resolved:
        blocks = [*blocks[: MAX_BLOCKS - 2], *feedback_actions("alert", v.message.id)]
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], *_context(["(message shortened)"])]
    return {"text": fallback_text(v), "attachments": [{"color": colour(v), "blocks": blocks}]}


def wants_buttons(destination: Destination) -> bool:
    """Whether messages to ``destination`` carry the feedback buttons (SLACK_INTERACTIVITY)."""
    return isinstance(destination.options, SlackSpec) and destination.options.buttons


def _request(destination: Destination, v: AlertView, now: int) -> Request:
    b = bot(destination)
    buttons = wants_buttons(destination)
    if b is not None:
        return api_request(b, "chat.postMessage", slack_message(v, buttons))
    return Request(destination.url, orjson.dumps(slack_message(v, buttons)), JSON_HEADERS)


class SlackSettings(SettingsPart, kw_only=True, frozen=True):
    slack_webhook_url: Annotated[str, doc("Slack incoming webhook URL", secret=True)] = ""
    slack_bot_token: Annotated[
        str,
        doc(
            "Slack bot token (xoxb-): posts with the Web API and edits incident messages in place",
            secret=True,
        ),
    ] = ""
    slack_channel: Annotated[str, doc("Channel the bot posts to (id or name), with SLACK_BOT_TOKEN")] = ""
    slack_api_url: Annotated[str, doc("Slack Web API base URL")] = API_URL
    slack_interactivity: Annotated[
        bool,
        doc(
            "Confirm / Wrong cause buttons on Slack messages; the Slack app's interactivity URL must be"
            " the console's /slack/actions (docs/feedback.md)"
        ),
    ] = False


def _from_settings(s: Any) -> list[Destination]:
    if s.slack_bot_token:
        # The bot can do all a webhook can, and edit its messages: it wins when both are set.
        bot_spec = SlackSpec(token=s.slack_bot_token, channel=s.slack_channel, buttons=s.slack_interactivity)
        return [
            Destination(
                name="slack",
                type="slack",
                url=s.slack_api_url,
                send_resolved=s.send_resolved,
                options=bot_spec,
            )
        ]
    if not s.slack_webhook_url:
        return []
    return [
        Destination(
            name="slack",
            type="slack",
            url=s.slack_webhook_url,
            send_resolved=s.send_resolved,
            options=SlackSpec(buttons=s.slack_interactivity) if s.slack_interactivity else None,
        )
    ]


def _check(destination: Destination, names: Mapping[str, str]) -> None:
    options = destination.options
    token = options.token if isinstance(options, SlackSpec) else ""
    if token and not (isinstance(options, SlackSpec) and options.channel):
        raise needs(destination, "channel", names, "a channel for its bot token")
    if not token and destination.url.rstrip("/") == API_URL:
        raise needs(destination, "url", names, "an incoming webhook url (or a bot token)")


async def _incident(x: IncidentExchange, d: Destination, event: schemas.IncidentEvent) -> Result:
    # Imported here: incident messages are built from this module's blocks.
    from services.notifier._slack_delivery import deliver

    return await deliver(x, d, event)


# Slack allows about one message per second per webhook.
KIND = DestinationKind(
    name="slack",
    spec=SlackSpec,
    default_rate=1.0,
    default_url=API_URL,
    settings=SlackSettings,
    from_settings=_from_settings,
    env_names={"url": "SLACK_WEBHOOK_URL", "channel": "SLACK_CHANNEL", "token": "SLACK_BOT_TOKEN"},
    check=_check,
    render=_request,
    judge=judge,
    incident=_incident,
)
