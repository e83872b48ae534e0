"""Microsoft Teams messages: an Adaptive Card, as incoming webhooks and Workflows accept it.

Teams refuses posts above about 28 KB, so texts and lists are bounded here.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson

from services.notifier._clip import clip
from services.notifier._http import Answer, Request, Verdict, judge_http
from services.notifier._kind import JSON_HEADERS, Destination, DestinationKind, tagged
from services.notifier._view import AlertView
from services.runtime import SettingsPart, doc

TEXT_LIMIT = 2000
MAX_ITEMS = 15
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Classic Teams connectors answer 200 with this text when Teams itself refused the card.
TEAMS_FAILURE = "Webhook message delivery failed"
STYLE = {"critical": "attention", "error": "attention", "high": "attention", "warning": "warning"}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, TEXT_LIMIT), "wrap": True, **style}


def _list(title: str, items: list[str], numbered: bool) -> list[dict[str, Any]]:
    if not items:
        return []
    shown = items[:MAX_ITEMS]
    lines = [f"{i}. {item}" if numbered else f"- {item}" for i, item in enumerate(shown, start=1)]
    if len(items) > len(shown):
        lines.append(f"… and {len(items) - len(shown)} more")
    return [_text(title, weight="Bolder", spacing="Medium"), _text("\n".join(lines))]


def _body(v: AlertView) -> list[dict[str, Any]]:
    colour = "Good" if v.resolved else STYLE.get(v.severity, "Default").capitalize()
    title = _text(v.title, size="Large", weight="Bolder", color=colour)
    a = v.analysis
    if v.resolved:
        where = f" on {v.where}" if v.where else ""
        return [
            title,
            _text(f"**{v.name}**{where} resolved after **{v.fired_for_text}**."),
            _text(f"Root cause ({a.category}): {a.root_cause}"),
        ]
    facts = [
        {"title": "Root cause", "value": clip(a.root_cause, TEXT_LIMIT)},
        {"title": "Category", "value": a.category},
        {"title": "Confidence", "value": v.confidence},
        *({"title": k, "value": clip(val, TEXT_LIMIT)} for k, val in v.key_labels),
        {"title": "Analyzer", "value": clip(v.analyzer_text, TEXT_LIMIT)},
    ]
    return [
        title,
        _text(a.summary),
        {"type": "FactSet", "facts": facts},
        *_list("Evidence", a.evidence, numbered=False),
        *_list("Remediation", a.remediation, numbered=True),
    ]


def teams_message(v: AlertView) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": _body(v),
        "actions": [{"type": "Action.OpenUrl", "title": link.text, "url": link.url} for link in v.links],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
    }


def judge(answer: Answer) -> Verdict:
    """A 200 is not always a delivery: Teams reports its own failures inside one."""
    if 200 <= answer.status < 300 and answer.body.startswith(TEAMS_FAILURE):
        return "retry" if "429" in answer.body or "HTTP error 5" in answer.body else "rejected"
    return judge_http(answer)


def _request(destination: Destination, v: AlertView, now: int) -> Request:
    return Request(destination.url, orjson.dumps(teams_message(v)), JSON_HEADERS)


class TeamsSettings(SettingsPart, kw_only=True, frozen=True):
    teams_webhook_url: Annotated[
        str, doc("Microsoft Teams incoming webhook / Workflows URL (Adaptive Card)", secret=True)
    ] = ""


def _from_settings(s: Any) -> list[Destination]:
    if not s.teams_webhook_url:
        return []
    return [Destination(name="teams", type="teams", url=s.teams_webhook_url, send_resolved=s.send_resolved)]


KIND = DestinationKind(
    name="teams",
    spec=tagged("teams"),
    default_rate=1.0,
    settings=TeamsSettings,
    from_settings=_from_settings,
    env_names={"url": "TEAMS_WEBHOOK_URL"},
    render=_request,
    judge=judge,
)
