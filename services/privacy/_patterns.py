"""``REDACT_PATTERNS``: a site's own secret shapes, as one setting."""

from __future__ import annotations

import json

from services.privacy._redact import Redactor
from services.runtime import ConfigError


def parse_patterns(setting: str) -> list[str]:
    """A JSON list of regular expressions, or one per line (commas belong to regexes, so never split on)."""
    text = setting.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            patterns = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON list of strings: {exc}") from exc
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ValueError("not a JSON list of strings")
        return [p for p in patterns if p]
    return [line.strip() for line in text.splitlines() if line.strip()]


def redactor_from(setting: str) -> Redactor:
    """The redactor for a ``REDACT_PATTERNS`` value; ``ValueError`` names a pattern that does not compile."""
    return Redactor(parse_patterns(setting))


def configured_redactor(setting: str) -> Redactor:
    """The redactor a service starts with; a bad ``REDACT_PATTERNS`` stops the start, naming the setting."""
    try:
        return redactor_from(setting)
    except ValueError as exc:
        raise ConfigError(f"REDACT_PATTERNS: {exc}") from exc
