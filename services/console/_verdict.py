"""A verdict from a form, JSON or a Slack click, checked: ``parse_feedback`` or the reason it is not one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import schemas

MAX_ID_LENGTH = 200
FIELDS = ("id", "target", "target_id", "verdict", "corrected_category", "actual_cause", "actual_fix")
# Ids are hex digests or "<incident>:<n>"-like keys: printable, no spaces, no markup.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")


class FeedbackRefused(Exception):
    """A verdict not taken: answered with ``status`` and ``{"error": reason}``, nothing stored."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FeedbackRefused(f"{name} must be a string")
    value = value.strip()
    if len(value) > schemas.MAX_FEEDBACK_TEXT:
        raise FeedbackRefused(f"{name} is longer than {schemas.MAX_FEEDBACK_TEXT} characters")
    return value


def _identifier(fields: Mapping[str, Any], name: str, *, required: bool) -> str:
    value = _text(fields, name)
    if not value:
        if required:
            raise FeedbackRefused(f"{name} is required")
        return ""
    if len(value) > MAX_ID_LENGTH or not _ID.fullmatch(value):
        raise FeedbackRefused(f"{name} must be an id (letters, digits, . _ : @ / -; at most {MAX_ID_LENGTH})")
    return value


def _choice(fields: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = _text(fields, name) or default
    if value not in allowed:
        shown = repr(value[:40]) if value else "missing"
        raise FeedbackRefused(f"{name} must be one of {', '.join(allowed)} (got {shown})")
    return value


def feedback_id(target_id: str, author: str, given_at: datetime) -> str:
    """A fresh id per verdict; a later verdict on the same target replaces an earlier one in history."""
    key = f"{target_id}|{author}|{given_at.isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def parse_feedback(
    fields: Mapping[str, Any],
    *,
    author: str,
    channel: schemas.FeedbackChannel,
    now: datetime | None = None,
    strict: bool = True,
) -> schemas.Feedback:
    """The verdict ``fields`` describe; FeedbackRefused with the reason when they do not describe one.

    ``strict`` refuses unknown fields (a JSON client's typo); a form carries its CSRF token beside them.
    """
    if strict and (unknown := sorted(set(fields) - set(FIELDS))):
        raise FeedbackRefused(f"unknown field(s): {', '.join(name[:40] for name in unknown[:5])}")
    target = _choice(fields, "target", ("alert", "incident"), default="alert")
    target_id = _identifier(fields, "target_id", required=True)
    verdict = _choice(fields, "verdict", ("confirmed", "corrected"))
    corrected = _text(fields, "corrected_category")
    cause, fix = _text(fields, "actual_cause"), _text(fields, "actual_fix")
    if corrected and corrected not in schemas.CATEGORIES:
        raise FeedbackRefused(f"corrected_category {corrected[:40]!r} is not a category")
    if verdict == "confirmed" and corrected:
        raise FeedbackRefused("a confirmed verdict takes no corrected_category: use verdict=corrected")
    if verdict == "corrected" and not (corrected or cause) and channel != "slack":
        raise FeedbackRefused("a corrected verdict needs corrected_category or actual_cause")
    given_at = now or datetime.now(UTC)
    return schemas.Feedback(
        id=_identifier(fields, "id", required=False) or feedback_id(target_id, author, given_at),
        target=cast(schemas.FeedbackTarget, target),
        target_id=target_id,
        verdict=cast(schemas.Verdict, verdict),
        corrected_category=cast(Any, corrected or None),  # checked against CATEGORIES above
        actual_cause=cause,
        actual_fix=fix,
        author=author[:200],
        channel=channel,
        given_at=given_at,
    )
