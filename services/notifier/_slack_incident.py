"""An incident as one Slack message, and the thread replies under it.

The message shows counts, never member lists: 50,000 members make the same few blocks as five
(at most MAX_NAMES alert names, each text clipped to Slack's limits).
"""

from __future__ import annotations

from typing import Any

from services.notifier._clip import clip
from services.notifier._incident_view import IncidentView, name_counts, new_counts
from services.notifier._slack import (
    COLOURS,
    FALLBACK_LIMIT,
    HEADER_LIMIT,
    OTHER_COLOUR,
    RESOLVED_COLOUR,
    SECTION_LIMIT,
    Block,
    _bullets,
    _context,
    _fields,
    _section,
    escape,
    feedback_actions,
)


def incident_colour(v: IncidentView) -> str:
    return RESOLVED_COLOUR if v.resolved else COLOURS.get(v.severity, OTHER_COLOUR)


def _blocks(v: IncidentView, with_changes: bool) -> list[Block]:
    i, a = v.incident, v.incident.analysis
    root = f"*Root alert* — {escape(v.root_text)}" if v.root_text else ""
    if root and i.root is not None and i.root.summary:
        root += f"\n{escape(i.root.summary)}"
    cause = (
        f"*Root cause* — `{a.category}`, {round(a.confidence * 100)}% confidence\n{escape(a.root_cause)}"
        if a
        else ""
    )
    alerts = f"*Alerts* — {v.members_text}\n" + "\n".join(
        f"• {escape(line)}" for line in name_counts(i.alertnames)
    )
    changes = v.change_lines() if with_changes else []
    resolved = f"*Resolved* after {v.lasted_text}." if v.resolved else ""
    ended = i.resolved_at or i.updated_at
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(v.headline, HEADER_LIMIT), "emoji": True},
        },
        *_section(resolved),
        *_section(escape(a.summary) if a else ""),
        *_section(root),
        *_section(cause),
        *_section(alerts),
        *(_section("*What changed*\n" + _bullets(changes, numbered=False)) if changes else []),
        *(
            _section("*Remediation*\n" + _bullets(a.remediation[:5], numbered=True))
            if a and a.remediation
            else []
        ),
        *_fields(sorted(i.scope.items())),
        *_context(
            [
                f"opened {i.opened_at:%Y-%m-%d %H:%M:%S} UTC",
                f"{'resolved' if v.resolved else 'updated'} {ended:%H:%M:%S} UTC",
                f"analyzer: {escape(a.analyzer)}{f' ({escape(a.model)})' if a.model else ''}" if a else "",
                f"incident `{i.id}`",
            ]
        ),
    ]


def incident_fallback(v: IncidentView) -> str:
    """The notification text phones and screen readers show."""
    if v.resolved:
        text = f"{v.icon} RESOLVED {v.incident.title} after {v.lasted_text} ({v.members_text})"
    else:
        text = f"{v.icon} [{v.severity.upper()}] {v.incident.title} ({v.members_text})"
    return clip(escape(text), FALLBACK_LIMIT)


def incident_message(v: IncidentView, with_changes: bool = False, buttons: bool = False) -> dict[str, Any]:
    """The message as ``chat.postMessage`` / ``chat.update`` or an incoming webhook takes it."""
    blocks = _blocks(v, with_changes)
    # Kept once resolved: the message is edited in place, and by then people know the cause.
    if buttons:
        blocks += feedback_actions("incident", v.incident.id)
    return {"text": incident_fallback(v), "attachments": [{"color": incident_colour(v), "blocks": blocks}]}


def thread_reply(v: IncidentView, told: dict[str, int]) -> str:
    """What changed since the thread last said ``told`` (members per alert name); "" when nothing."""
    lines = [f"• {escape(line)}" for line in v.change_lines()]
    joined = new_counts(v.incident.alertnames, told)
    if joined:
        added = sum(joined.values())
        lines.append(f"*{added} new alert{'s' if added != 1 else ''}* ({v.incident.member_count} in all):")
        lines += [f"    {escape(line)}" for line in name_counts(joined)]
    if v.resolved:
        lines.insert(0, f"✅ *Resolved* after {v.lasted_text}: all {v.members_text} ended.")
    return clip("\n".join(lines), SECTION_LIMIT)
