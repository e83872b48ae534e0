"""Where notifications go: a named destination of one kind, with its own pacing and options.

Everything here derives from the registry in ``_kinds.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from services.notifier._kind import Destination, needs
from services.notifier._kinds import KINDS, kind_named
from services.runtime import ConfigError

__all__ = ["DEFAULT_RATE", "Destination", "from_environment", "rate", "validate"]

# Names end up in KV keys and metric labels, so they stay short and plain.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

DEFAULT_RATE: dict[str, float] = {name: kind.default_rate for name, kind in KINDS.items()}


def rate(destination: Destination) -> float:
    """Posts per second: the destination's own, or its kind's default."""
    if destination.rate_per_second >= 0:
        return destination.rate_per_second
    return DEFAULT_RATE[destination.type]


def validate(destination: Destination, names: Mapping[str, str] | None = None) -> Destination:
    """Raise ConfigError naming the destination and the setting (never its URL or secret) when it
    cannot work; ``names`` maps an option to the environment variable it came from."""
    where = names or {}
    if not NAME_RE.match(destination.name):
        raise ConfigError(f"destination name {destination.name!r} must match {NAME_RE.pattern}")
    kind = kind_named(destination.type)
    if kind.needs_url:
        parts = urlsplit(destination.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise needs(destination, "url", where, "an http(s) url")
    if kind.secret_option and not destination.secret:
        article = "an" if kind.secret_option[0] in "aeiou" else "a"
        raise needs(destination, kind.secret_option, where, f"{article} {kind.secret_option}")
    kind.check(destination, where)
    return destination


def from_environment(settings: Any) -> list[Destination]:
    """The destinations the plain environment variables describe, in the registry's order."""
    return [
        validate(destination, kind.env_names)
        for kind in KINDS.values()
        for destination in kind.from_settings(settings)
    ]
