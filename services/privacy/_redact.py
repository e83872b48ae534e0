"""Secrets out of a text, the rest kept: ``redact("pwd=hunter2 ok")`` → ``pwd=<secret:password> ok``.

Most texts hold none of the words any detector needs: a first pass over the whole text (_gate.py) returns
those as they are. Work is bounded per line: long lines are cut into segments of at most ``SEGMENT``
characters (at a space or separator where there is one), each pattern runs only when a word it cannot match
without is in the segment (its gate: a substring test), and no pattern can backtrack over more than a
segment. So the cost is linear in the text, whatever it holds (64 KB lines, a million-character token,
binary junk decoded with replacement characters).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence

from services.privacy._context import CONTEXT_RULES, private_keys
from services.privacy._detectors import Span, provider_spans
from services.privacy._gate import might_hold_secret

SEGMENT = 1024
OVERLAP = 256
_CACHED_LENGTH = 512
_CACHED_TEXTS = 8192
_CUTS = " \t&;,"


def placeholder(kind: str) -> str:
    return f"<secret:{kind}>"


def _segments(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the pieces scanned: each line, a long line cut at a separator and each piece
    reaching ``OVERLAP`` characters into the next, so a secret cut by the border is whole in one of them."""
    position, size = 0, len(text)
    while position < size:
        limit = min(size, position + SEGMENT)
        newline = text.find("\n", position, limit)
        if newline >= 0:
            yield position, newline
            position = newline + 1
            continue
        end = limit
        if limit < size:
            cut = max(text.rfind(c, position + SEGMENT // 2, limit) for c in _CUTS)
            end = cut + 1 if cut >= 0 else limit
        reach = min(size, end + OVERLAP)
        newline = text.find("\n", end, reach)
        yield position, newline if newline >= 0 else reach
        position = end


def _merged(spans: Iterable[tuple[int, int, str, int]]) -> list[tuple[int, int, str]]:
    """Overlapping spans become one, named by the most specific detector among them (lowest rank)."""
    merged: list[list[object]] = []
    for start, end, kind, rank in sorted(spans, key=lambda s: (s[0], -s[1], s[3])):
        if merged and start < merged[-1][1]:  # type: ignore[operator]
            last = merged[-1]
            last[1] = max(last[1], end)  # type: ignore[call-overload]
            if rank < last[3]:  # type: ignore[operator]
                last[2], last[3] = kind, rank
            continue
        merged.append([start, end, kind, rank])
    return [(int(s), int(e), str(k)) for s, e, k, _ in merged]  # type: ignore[call-overload]


class Redactor:
    """The default detectors plus a site's own patterns (``REDACT_PATTERNS``).

    A site pattern with a group replaces only its first group (``api_id=(\\w+)`` keeps ``api_id=``);
    without one, the whole match. A pattern that does not compile raises ``ValueError`` naming it.
    ``gated=False`` runs every built-in detector on every text: the reference the first pass is tested
    and measured against. Site patterns always run.
    """

    def __init__(
        self, site_patterns: Sequence[str] = (), cache_size: int = _CACHED_TEXTS, gated: bool = True
    ) -> None:
        compiled = []
        for pattern in site_patterns:
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        self._site = tuple(compiled)
        self._gated = gated
        # Label values, hosts, job names and log templates recur from alert to alert: short texts are cached.
        self._cached = functools.lru_cache(maxsize=cache_size)(self._redact)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where the secrets of ``text`` are and their kinds, overlapping finds merged."""
        return self._spans(text, self._detects(text))

    def _detects(self, text: str) -> bool:
        return not self._gated or might_hold_secret(text)

    def _spans(self, text: str, detect: bool) -> list[tuple[int, int, str]]:
        """``detect``: the built-in detectors run (the first pass opened); site patterns run regardless."""
        if not detect and not self._site:
            return []
        found: list[tuple[int, int, str, int]] = []
        if detect:
            found.extend((s, e, k, 0) for s, e, k in private_keys(text))
        for start, end in _segments(text):
            segment = text[start:end]
            for site in self._site:
                for match in site.finditer(segment):
                    group = 1 if site.groups else 0
                    if match.start(group) < match.end(group):
                        found.append((start + match.start(group), start + match.end(group), "site", 0))
            if not detect:
                continue
            lower = segment.lower()
            found.extend((start + s, start + e, k, 1) for s, e, k in provider_spans(segment, lower))
            for rank, rule in enumerate(CONTEXT_RULES, start=2):
                found.extend((start + s, start + e, k, rank) for s, e, k in rule(segment, lower))
        return _merged(found)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``<secret:kind>``; the rest kept as it was."""
        if not text:
            return text
        if len(text) > _CACHED_LENGTH:
            return self._redact(text)
        redacted = self._cached(text)
        # A text left as it was comes back as itself, not as the cache's equal copy: walks over a message
        # keep every part that is the same object, and rebuild only what changed.
        return text if redacted == text else redacted

    def _redact(self, text: str) -> str:
        detect = self._detects(text)
        if not detect and not self._site:
            return text
        spans = self._spans(text, detect)
        if not spans:
            return text
        parts, position = [], 0
        for start, end, kind in spans:
            parts.append(text[position:start])
            parts.append(placeholder(kind))
            position = end
        parts.append(text[position:])
        return "".join(parts)


DEFAULT = Redactor()


def redact(text: str) -> str:
    """The default redactor: the built-in detectors, no site patterns."""
    return DEFAULT.redact(text)


__all__ = ["SEGMENT", "Redactor", "Span", "placeholder", "redact"]
