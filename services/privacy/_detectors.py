"""detect-secrets' provider plugins as spans of one line: where each detected value sits, and its kind.

The plugins say *what* a secret is (an AWS key id, a JWT, a Slack token…) by their patterns, run here on one
segment of a line at a time. Plugins that judge by context rather than by shape (keyword,
entropy) or that find identifiers rather than secrets (public IPs) are left out: ``_context`` does that work
with bounded values, and anonymisation owns addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector


class Span(NamedTuple):
    start: int
    end: int
    kind: str


# The placeholder's word for a plugin; a plugin not named here is called by its own secret type.
_KINDS = {
    "AWSKeyDetector": "aws-access-key",
    "JwtTokenDetector": "jwt",
    "PrivateKeyDetector": "private-key",
    "BasicAuthDetector": "password",
    "GitHubTokenDetector": "github-token",
    "GitLabTokenDetector": "gitlab-token",
    "SlackDetector": "slack-token",
    "StripeDetector": "stripe-key",
    "OpenAIDetector": "openai-key",
    "TwilioKeyDetector": "twilio-key",
    "SendGridDetector": "sendgrid-key",
    "MailchimpDetector": "mailchimp-key",
    "NpmDetector": "npm-token",
    "PypiTokenDetector": "pypi-token",
    "DiscordBotTokenDetector": "discord-token",
    "TelegramBotTokenDetector": "telegram-token",
    "AzureStorageKeyDetector": "azure-storage-key",
    "ArtifactoryDetector": "artifactory-token",
    "SquareOAuthDetector": "square-secret",
}
_LEFT_OUT = {"KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"}
# The JWT plugin stops after the payload; the signature that follows is as secret as the rest.
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-.+/=]*")
# Hex groups joined by dashes are identifiers (UUIDs, SCSI WWIDs), whatever pattern they happen to fit.
_IDENTIFIER = re.compile(r"[0-9a-fA-F]{1,12}(?:-[0-9a-fA-F]{1,12}){3,}")
_AWS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")


# A cheap pre-filter per pattern, by (kind, index): the pattern cannot match unless one of these words is in
# the segment (lower-cased for the plugins' case-insensitive patterns). A pattern without an entry always
# runs, so a plugin added to detect-secrets is used before it gets a gate.
_GATES: dict[tuple[str, int], tuple[str, ...]] = {
    ("aws-access-key", 0): ("A3T", "ABIA", "ACCA", "AKIA", "ASIA"),
    ("aws-access-key", 1): ("aws",),
    ("artifactory-token", 0): ("AKC",),
    ("artifactory-token", 1): ("AP",),
    ("azure-storage-key", 0): ("AccountKey=",),
    ("password", 0): ("://",),
    ("cloudant-credentials", 0): ("key", "pw", "pass", "token"),
    ("cloudant-credentials", 1): ("key", "pw", "pass", "token"),
    ("cloudant-credentials", 2): ("cloudant.com",),
    ("cloudant-credentials", 3): ("cloudant.com",),
    ("github-token", 0): ("gh",),
    **{("gitlab-token", i): ("gl", "GR1348941") for i in range(7)},
    ("ibm-cos-hmac-credentials", 0): ("key",),
    ("ibm-cloud-iam-key", 0): ("key", "pw", "pass", "token"),
    ("jwt", 0): ("eyJ",),
    ("mailchimp-key", 0): ("-us",),
    ("npm-token", 0): ("_authToken",),
    ("openai-key", 0): ("T3BlbkFJ",),
    **{("private-key", i): ("BEGIN", "PuTTY") for i in range(8)},
    ("pypi-token", 0): ("pypi-",),
    ("pypi-token", 1): ("pypi-",),
    ("sendgrid-key", 0): ("SG.",),
    ("slack-token", 0): ("xox",),
    ("slack-token", 1): ("hooks.slack.com",),
    ("softlayer-credentials", 0): ("key", "pw", "pass", "token"),
    ("softlayer-credentials", 1): ("softlayer.com",),
    ("square-secret", 0): ("sq0csp-",),
    ("stripe-key", 0): ("k_live_",),
    ("telegram-token", 0): (":",),
    ("twilio-key", 0): ("AC",),
    ("twilio-key", 1): ("SK",),
}


def _slug(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


class Pattern(NamedTuple):
    regex: re.Pattern[str]
    kind: str
    gate: tuple[str, ...]
    lower: bool
    plugin: RegexBasedDetector


def _patterns() -> list[Pattern]:
    patterns = []
    mapping: dict[str, type[Any]] = get_mapping_from_secret_type_to_class()
    for secret_type, plugin_class in sorted(mapping.items()):
        name = plugin_class.__name__
        if name in _LEFT_OUT or not issubclass(plugin_class, RegexBasedDetector):
            continue
        plugin = plugin_class()
        kind = _KINDS.get(name) or _slug(secret_type)
        for index, regex in enumerate(plugin.denylist):
            lower = bool(regex.flags & re.IGNORECASE)
            gate = tuple(word.lower() if lower else word for word in _GATES.get((kind, index), ()))
            patterns.append(Pattern(regex, kind, gate, lower, plugin))
    return patterns


PATTERNS = _patterns()
_UNGATED = [index for index, pattern in enumerate(PATTERNS) if not pattern.gate]
# Each gate word once, with the patterns it opens: a segment costs one substring test per word.
_BY_WORD: dict[tuple[str, bool], list[int]] = {}
for _index, _pattern in enumerate(PATTERNS):
    for _word in _pattern.gate:
        _BY_WORD.setdefault((_word, _pattern.lower), []).append(_index)


def _kind_of(kind: str, value: str) -> str:
    # The AWS plugin also yields the 40-character secret access key found next to an "aws … key" word.
    if kind == "aws-access-key" and not _AWS_KEY_ID.fullmatch(value):
        return "aws-secret-key"
    return kind


def _value_span(found: re.Match[str]) -> tuple[int, int]:
    """The secret's place in a match: the group the plugin yields, unless that group is only the token's
    prefix (``(ghp|gho)_…``, ``glcbt-(ab_)?…``), when the secret is the whole match."""
    group = next((i for i in range(found.re.groups, 0, -1) if found.group(i)), 0)
    if group and (found.start(group) == found.start() or found.group(group).endswith("_")):
        group = 0
    return found.start(group), found.end(group)


def provider_spans(segment: str, lower: str) -> Iterator[Span]:
    """Every value a detect-secrets plugin's patterns match in ``segment``.

    The patterns are run directly rather than through ``analyze_string``, which yields values without their
    place and, for patterns with a group, sometimes only the group (``ghp`` of a GitHub token).
    """
    opened = set(_UNGATED)
    for (word, is_lower), indexes in _BY_WORD.items():
        if word in (lower if is_lower else segment):
            opened.update(indexes)
    for index in sorted(opened):
        pattern = PATTERNS[index]
        for found in pattern.regex.finditer(segment):
            start, end = _value_span(found)
            if start == end:
                continue
            value = segment[start:end]
            if _IDENTIFIER.fullmatch(value.rpartition(":")[2].strip("-")):
                continue
            kind = _kind_of(pattern.kind, value)
            if kind == "jwt":
                if not pattern.plugin.is_formally_valid(segment[start:end]):  # type: ignore[attr-defined]
                    continue
                tail = _JWT_TAIL.match(segment, end)
                end = tail.end() if tail else end
            yield Span(start, end, kind)
