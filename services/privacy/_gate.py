"""The first pass: whether a text holds anything a built-in detector could match, in three regex searches.

Most texts redaction sees hold no secret and none of the words secrets come with (``severity``,
``node-7:9100``, ``High CPU usage``); for them the detectors need not run. The gate opens on the union of
what each detector already refuses to run without: every provider pattern's gate words (_detectors.py),
every context rule's triggers (_context.py). It is never narrower than the detectors' own per-segment
tests, so it cannot let through a text they would change: a segment is a piece of the text, so a word in a
segment is in the text.

Three searches, each of one kind so that the regex engine can skip ahead to where a match could begin: one
in the lower-cased text for every word of three characters or more (a word written in capitals is in a text
only if its lower-case form is in the lower-cased text: a wider test, never a narrower one), one in the
text as written for the short words, whose case is what keeps them rare (``AP``, ``gl``), and one for the
patterns searched for themselves. A pattern is searched for itself when its gate words are
at most two characters (the Telegram token's ``:``, GitHub's ``gh``: in nearly every text) or it has none,
provided that is the same as searching the segments: it reads no context around its match (no anchors,
word boundaries or lookarounds) and combines with the others (no flags but case, no back-references or
named groups). A pattern that can be neither leaves the gate open for every text: a detector added to
detect-secrets is used before it is understood.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from services.privacy._context import EXACT_TRIGGERS, LOWER_TRIGGERS
from services.privacy._detectors import PATTERNS

_WEAK_WORD = 2
# Syntax by which a regular expression reads around its match ("^" also negates a class: a pattern with one
# is simply not searched for itself), or that would not survive being joined to other patterns.
_CONTEXT_SYNTAX = ("^", "$", "\\b", "\\B", "\\A", "\\Z", "(?=", "(?!", "(?<", "(?P")
_BACKREFERENCE = re.compile(r"\\[1-9]")
_FLAGS = re.IGNORECASE | re.UNICODE


def _searchable(regex: re.Pattern[str]) -> str | None:
    """The pattern as a piece of an alternation, or None when it cannot stand for its segments."""
    source = regex.pattern
    if any(syntax in source for syntax in _CONTEXT_SYNTAX) or _BACKREFERENCE.search(source):
        return None
    if regex.flags & ~_FLAGS:
        return None
    return f"(?i:{source})" if regex.flags & re.IGNORECASE else f"(?:{source})"


def _trie(words: Iterable[str]) -> str:
    """The words as one alternation, branching where they part (``k(?:_|ey)``): the regex engine tries
    every branch at every place a word could start, so shared beginnings are tried once."""
    branches: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        if word:
            branches.setdefault(word[0], []).append(word[1:])
        else:
            return ""  # this word is whole here: longer ones starting with it add nothing
    parts = [re.escape(first) + _trie(rests) for first, rests in branches.items()]
    return parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"


def _search(alternation: str) -> Callable[[str], object]:
    """A search for ``alternation``; an empty one finds nothing (an empty regex would match everywhere)."""
    return re.compile(alternation).search if alternation else lambda text: None


def _build() -> Callable[[str], bool] | None:
    """The gate's test, or None when some detector can run on any text."""
    lower_words, short_words = set(LOWER_TRIGGERS), set()
    pieces: list[str] = []

    def add(word: str, lower: bool) -> None:
        if lower:
            lower_words.add(word)
        elif len(word) > _WEAK_WORD and word.isascii():
            lower_words.add(word.lower())
        else:
            short_words.add(word)

    for word in EXACT_TRIGGERS:
        add(word, lower=False)
    for pattern in PATTERNS:
        strong = bool(pattern.gate) and min(len(word) for word in pattern.gate) > _WEAK_WORD
        if not strong and (piece := _searchable(pattern.regex)) is not None:
            pieces.append(piece)
        elif pattern.gate:
            for word in pattern.gate:
                add(word, pattern.lower)
        else:
            return None
    if "" in lower_words | short_words:
        return None  # a detector that needs no word at all
    in_lower, short = _search(_trie(lower_words)), _search(_trie(short_words))
    searched = _search("|".join(pieces))

    def might_hold_secret(text: str) -> bool:
        return in_lower(text.lower()) is not None or short(text) is not None or searched(text) is not None

    return might_hold_secret


def _always(text: str) -> bool:
    return True


might_hold_secret: Callable[[str], bool] = _build() or _always
"""False only when no built-in detector can find anything in ``text``."""


__all__ = ["might_hold_secret"]
