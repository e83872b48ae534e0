"""Secrets found by what stands next to them, which detect-secrets' plugins leave to a keyword scan.

detect-secrets' keyword plugin takes everything to the end of the line as the value, which would drop the
line's other text; here every value ends where values end in the formats logs use (logfmt, JSON, query
strings, headers, DSNs), and the key stays, so ``password=<secret:password>`` still reads as a password.
The keyword vocabulary starts from detect-secrets' own (``keyword.DENYLIST``).

Every pattern is linear: each starts at a literal or a word boundary and every repetition is bounded or
runs over a class the next token cannot start with.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from detect_secrets.plugins.keyword import DENYLIST

from services.privacy._detectors import Span

# Keys that always hold a secret, whatever its value looks like.
_STRONG = (
    *DENYLIST,
    "passphrase",
    "access_?key",
    "secret_?key",
    "secret_?access_?key",
    "signing_?key",
    "encryption_?key",
    "master_?key",
    "client_?secret",
    "x_?api_?key",
    "apikey",
)
# Keys that hold a secret only when the value looks like one (``token=expired`` is a state, not a token).
_WEAK = (
    "token",
    "access_?token",
    "refresh_?token",
    "id_?token",
    "auth_?token",
    "api_?token",
    "session_?token",
    "session_?id",
    "sessionid",
    "auth",
    "credentials?",
    "signature",
    "sig",
    "bearer",
)


def _alternatives(keys: tuple[str, ...]) -> str:
    return "|".join(sorted((k.replace("_?", "[_-]?") for k in keys), key=len, reverse=True))


# A key ends in a keyword at a word boundary (``db_password``, ``X-Api-Key``, ``dbPassword``,
# ``aws_secret_access_key``); a key with a word after the keyword (``token_bucket``, ``password_reset``)
# is not a secret's name.
_KEY_END = re.compile(rf"(?:^|(?<=[_.-])|(?<=[a-z])(?=[A-Z]))(?i:{_alternatives((*_STRONG, *_WEAK))})\Z")
_STRONG_END = re.compile(rf"(?i:{_alternatives(_STRONG)})\Z")
# A key and its assignment (logfmt, JSON, YAML, query strings); the value is read only after a key with a
# keyword, so a pair with another key (``request: "GET /?token=x"``) leaves the pairs inside its value to
# be found, and a value is read once.
_KEY = re.compile(r"""(?<![A-Za-z0-9_.<-])(?P<key>[A-Za-z0-9_.-]{1,80})["']?\s{0,3}(?::=|=>|=|:)\s{0,3}""")
_VALUE = re.compile(
    r"""(?P<q>["'])(?P<quoted>[^"'\n]{1,1024})(?P=q)|(?P<bare>[^\s&;,"'<>()\[\]{}]{1,1024})"""
)
# Words one of the keywords holds: a segment without any is not scanned for pairs.
_PAIR_HINTS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "sig",
    "cred",
    "session",
    "contrase",
    "bearer",
)
# Words a header rule needs (the Redis ``AUTH`` and a bare bearer included): without one, none is tried.
_HEADER_HINTS = ("auth", "bearer", "cookie")
_URL_MARK = "://"
_PEM_MARK = "PRIVATE KEY"
# `Authorization: Bearer x`, `authorization="Basic x"`, `Proxy-Authorization: Digest …`, a bearer alone.
_AUTH_HEADER = re.compile(
    r"""(?<![\w-])(?:proxy-)?authorization["']?\s{0,3}[:=]\s{0,3}["']?
    (?:(?P<scheme>bearer|basic|token|digest|negotiate|apikey|aws4-hmac-sha256|hmac|sharedkey)\s{1,3})?
    (?P<value>[^\s"',;]{1,4096}(?:,\s?[A-Za-z]+=[^\s"',;]{1,1024}){0,6})""",
    re.IGNORECASE | re.VERBOSE,
)
# The Redis protocol's AUTH [user] password, as clients and proxies echo a failed command.
_REDIS_AUTH = re.compile(r"(?<![\w-])AUTH (?P<first>[^\s\"']{1,512})(?: (?P<second>[^\s\"']{1,512}))?")
_BEARER = re.compile(r"(?<![\w-])bearer\s{1,3}(?P<value>[A-Za-z0-9\-._~+/]{8,4096}=*)", re.IGNORECASE)
_COOKIE_HEADER = re.compile(r"""(?<![\w-])(?:set-)?cookie["']?\s{0,3}[:=]\s{0,3}["']?""", re.IGNORECASE)
_COOKIE_PAIR = re.compile(r"""\s{0,3}(?P<name>[^=;\s"']{1,256})=(?P<value>[^;\s"']{0,4096})""")
_COOKIE_ATTRIBUTES = {"path", "domain", "expires", "max-age", "samesite", "secure", "httponly", "priority",
                      "partitioned", "version", "comment"}  # fmt: skip
# user:password@ after a scheme (postgres://, redis://:pw@, amqp://, https://).
_URL_CREDENTIALS = re.compile(
    r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/:@?#\"'<>]{0,256}:(?P<value>[^\s/@?#\"'<>]{1,256})@"
)
_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----"
    r"[A-Za-z0-9+/=]{0,8192}(?:(?:\s|\\[nr]){1,8}(?:[A-Za-z-]{1,20}: [^\n\\]{0,200}|[A-Za-z0-9+/=]{1,8192}))*"
    r"(?:(?:\s|\\[nr]){0,8}-----END (?P=label)-----)?"
)
# Provider tokens detect-secrets does not know by shape (its OpenAI plugin knows only the legacy form).
_PREFIXED = [
    (re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,512}"), "openai-key", "sk-"),
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{20,512}"), "anthropic-key", "sk-ant-"),
    (re.compile(r"AIza[0-9A-Za-z_-]{35}(?![\w-])"), "google-api-key", "AIza"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{22,255}"), "github-token", "github_pat_"),
    (re.compile(r"glpat-[A-Za-z0-9_-]{20,64}"), "gitlab-token", "glpat-"),
    (re.compile(r"xox[a-z]-[A-Za-z0-9-]{10,256}"), "slack-token", "xox"),
    (re.compile(r"[rs]k_(?:live|test)_[0-9A-Za-z]{16,256}"), "stripe-key", "k_"),
    (re.compile(r"hf_[A-Za-z0-9]{30,64}(?![\w-])"), "huggingface-token", "hf_"),
]
_PLACEHOLDER_VALUE = re.compile(
    r"(?:<[^>]{0,40}>|\*{3,}|x{3,}|\$\{[^}]{0,80}\}|\{\{[^}]{0,80}\}\}|%\(?\w{0,40}\)?s?|null|none|nil|"
    r"true|false|redacted|\[redacted\]|\[filtered\]|undefined|empty|hidden|masked|-|/[\w./-]{0,200})",
    re.IGNORECASE,
)


# A run of token characters holding a letter and a digit: what generated secrets are made of.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_+=-]{8,}")
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|\d+")


def _looks_secret(value: str) -> bool:
    """A weak key's value, which may be a state (``expired``), a number (``sessionid: 0x14f0…``) or a name
    (``token: android.os.BinderProxy@2bd79ce``): a secret when it holds a generated-looking run, or is a long
    word of its own (a passphrase)."""
    if len(value) < 8 or _NUMBER.fullmatch(value):
        return False
    for run in _TOKEN_RUN.findall(value):
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return True
    return len(value) >= 20 and not any(c in value for c in "./ ")


def _kind_of_key(key: str) -> str:
    key = key.lower().replace("_", "-").replace(".", "-")
    for word, kind in (("pass", "password"), ("pwd", "password"), ("contrase", "password"),
                       ("api-key", "api-key"), ("apikey", "api-key"), ("access-key", "access-key"),
                       ("private", "private-key"), ("token", "token"), ("sig", "signature"),
                       ("session", "session"), ("cookie", "cookie"), ("cred", "credentials")):  # fmt: skip
        if word in key:
            return kind
    return "secret"


def pairs(segment: str, lower: str) -> Iterator[Span]:
    if not any(hint in lower for hint in _PAIR_HINTS):
        return
    position = 0
    while key := _KEY.search(segment, position):
        position = key.end()
        name = key.group("key")
        if not _KEY_END.search(name) or not (found := _VALUE.match(segment, position)):
            continue
        group = "quoted" if found.group("quoted") is not None else "bare"
        value = found.group(group)
        if _PLACEHOLDER_VALUE.fullmatch(value) or value.startswith("<secret:"):
            continue
        if not _STRONG_END.search(name) and not _looks_secret(value):
            continue
        position = found.end()
        yield Span(found.start(group), found.end(group), _kind_of_key(name))


def headers(segment: str, lower: str) -> Iterator[Span]:
    if not any(hint in lower for hint in _HEADER_HINTS):
        return
    for found in _AUTH_HEADER.finditer(segment):
        scheme = (found.group("scheme") or "").lower()
        # Without a scheme the word may be prose (``authorization: denied``).
        if _PLACEHOLDER_VALUE.fullmatch(found.group("value")) or not (
            scheme or _looks_secret(found.group("value"))
        ):
            continue
        kind = {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")
        yield Span(found.start("value"), found.end("value"), kind)
    if "AUTH " in segment:
        for found in _REDIS_AUTH.finditer(segment):
            for group in ("first", "second"):
                if found.group(group) and _looks_secret(found.group(group)):
                    yield Span(found.start(group), found.end(group), "password")
    for found in _BEARER.finditer(segment):
        if _looks_secret(found.group("value")):  # not ``bearer authentication failed``
            yield Span(found.start("value"), found.end("value"), "bearer-token")
    for header in _COOKIE_HEADER.finditer(segment):
        position = header.end()
        while cookie := _COOKIE_PAIR.match(segment, position):
            if cookie.group("name").lower() not in _COOKIE_ATTRIBUTES and cookie.group("value"):
                yield Span(cookie.start("value"), cookie.end("value"), "cookie")
            position = cookie.end()
            if segment.startswith(";", position):
                position += 1
            else:
                break


def urls(segment: str, lower: str) -> Iterator[Span]:
    if _URL_MARK not in segment:
        return
    for found in _URL_CREDENTIALS.finditer(segment):
        yield Span(found.start("value"), found.end("value"), "password")


def prefixed(segment: str, lower: str) -> Iterator[Span]:
    for pattern, kind, prefix in _PREFIXED:
        if prefix not in segment:
            continue
        for found in pattern.finditer(segment):
            before = segment[found.start() - 1] if found.start() else " "
            if not (before.isalnum() or before in "_-"):
                yield Span(found.start(), found.end(), kind)


def private_keys(text: str) -> Iterator[Span]:
    """PEM blocks, searched in the whole text: their bodies run over several lines."""
    if _PEM_MARK not in text:
        return
    for found in _PEM.finditer(text):
        yield Span(found.start(), found.end(), "private-key")


# Most specific first: where finds overlap, the placeholder names the first rule's kind (a provider's key
# found as the value of ``api_key=`` is an ``openai-key``, a bearer token of JWT shape a ``jwt``).
CONTEXT_RULES = (prefixed, headers, urls, pairs)
# What the rules above return early without, for the first-pass gate (_gate.py): words looked for in the
# lower-cased text, and marks looked for as they are written. A rule that gains an early return adds its
# words here, or the gate would skip texts the rule could match.
LOWER_TRIGGERS = (*_PAIR_HINTS, *_HEADER_HINTS)
EXACT_TRIGGERS = (_URL_MARK, _PEM_MARK, *(prefix for _, _, prefix in _PREFIXED))
