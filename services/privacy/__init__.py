"""Secrets removed from everything quoted from alerts and their sources, before it is published.

``redact(text)`` uses the built-in detectors (detect-secrets' provider plugins and the pairs, headers and
URLs they leave out); ``Redactor(patterns)`` adds a site's own; ``redactor_from(REDACT_PATTERNS)`` builds
one from the setting (``configured_redactor``: the same, raising ``ConfigError`` naming the setting).
``redact_message`` redacts a pipeline message's alert, group and evidence.
"""

from services.privacy._patterns import configured_redactor, parse_patterns, redactor_from
from services.privacy._redact import Redactor, placeholder, redact
from services.privacy._walk import redact_alert, redact_labels, redact_message, redact_pair, redact_value

__all__ = [
    "Redactor",
    "configured_redactor",
    "parse_patterns",
    "placeholder",
    "redact",
    "redact_alert",
    "redact_labels",
    "redact_message",
    "redact_pair",
    "redact_value",
    "redactor_from",
]
