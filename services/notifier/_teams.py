"""Microsoft Teams messages: an Adaptive Card, as incoming webhooks and Workflows accept it.

Teams refuses posts above about 28 KB, so texts and lists are bounded here.
"""

from __future__ import annotations

from typing import Any

from services.notifier._clip import clip
from services.notifier._view import AlertView

TEXT_LIMIT = 2000
MAX_ITEMS = 15
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
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
