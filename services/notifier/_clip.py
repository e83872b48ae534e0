"""Shortening text to a destination's limit, visibly: a cut text ends in "…"."""

from __future__ import annotations

import re

ELLIPSIS = "…"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def units(text: str) -> int:
    """Length in UTF-16 code units, the unit Slack and Teams count in (an emoji may be two)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    if units(text) <= limit:
        return text
    cut = text[: limit - 1]
    while units(cut) > limit - 1:
        cut = cut[:-1]
    # Never leave half of an escaped "&amp;" behind.
    cut = _PARTIAL_ENTITY.sub("", cut)
    return cut + ELLIPSIS
