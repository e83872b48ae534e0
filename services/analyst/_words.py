"""Words, not substrings: alert names, metric names and prose split into comparable words.

"PrometheusTooManyRestarts" is the words too, many, restart — it does not contain "oom";
"HaproxyHttpSlowingDown" holds the phrase "slowing down", which is not "down". Every word is
lower-cased and reduced to a crude stem (restarts, restarting, restarted -> restart) so that the
vocabulary and the alerts meet however they inflect; the vocabulary goes through the same stemmer,
so the stems never need to be real words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TypeVar

# CamelCase humps, all-caps runs (HTTP in HTTPErrors), numbers with a unit or suffix (5xx, 4xx, 95th).
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+[a-z]*")
# Go renders a label map as "map[alertname:X severity:Y]"; awesome-prometheus-alerts prints one in
# every description. Label values are not prose: a certificate alert's condition="MemoryPressure"
# says nothing about memory.
_GO_MAP = re.compile(r"map\[[^\]]*\]")
_LABELS_LINE = re.compile(r"(?im)^\s*(?:labels|value)\s*=.*$")
_KEEP_S = ("ss", "us", "is", "os")
MAX_PHRASE = 4
T = TypeVar("T")


@lru_cache(maxsize=16384)  # a vocabulary of words repeats across alerts; sentences do not
def stem(word: str) -> str:
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix, keep in (("ing", 5), ("ed", 4)):
        if len(word) > keep and word.endswith(suffix):
            word = word[: -len(suffix)]
            # running -> run, but kill, miss and roll keep their doubled letter
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]
            break
    else:
        if len(word) > 3 and word.endswith("s") and not word.endswith(_KEEP_S):
            word = word[:-1]
    # expire / expired, terminate / terminated: the same stem either way
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


@lru_cache(maxsize=8192)
def words_of(text: str) -> tuple[str, ...]:
    """The stemmed words of a name or a sentence, in order."""
    # A number is its own stem: not looked up, or a storm's distinct numbers (node-5, node-6...)
    # would push the vocabulary's words out of ``stem``'s cache.
    return tuple(found if found.isdigit() else stem(found) for found in _WORD.findall(text))


# Recording rules glue a measure onto what it measures (`apiserver_request:burnrate1h`, `errorratio`,
# `latencybudget`): the glued word is two, or "burnrate" stems to "burnrat" and is neither "burn rate"
# nor "rate". Only in metric names, and only after a word that such measures are of: any word before
# "rate" would split "migrate", "generate" and "operate" and make a count of migrations a rate.
_GLUED = re.compile(
    r"(burn|errors?|success|failures?|latency|availability|requests?|hit|miss|loss|drops?|retry|slo|sli)"
    r"(rate|ratio|budget)"
)


@lru_cache(maxsize=4096)
def metric_words(name: str) -> tuple[str, ...]:
    """The stemmed words of a metric name, a word glued to a rate, ratio or budget split from it."""
    found: list[str] = []
    for word in _WORD.findall(name):
        glued = _GLUED.fullmatch(word)
        if glued is not None:
            found += (stem(glued[1]), stem(glued[2]))
        else:
            found.append(word if word.isdigit() else stem(word))
    return tuple(found)


def prose(text: str) -> str:
    """Annotation text without the label dumps templates print into it."""
    # Most annotations hold neither; a substring test is cheaper than running the patterns.
    if "map[" in text:
        text = _GO_MAP.sub(" ", text)
    return _LABELS_LINE.sub(" ", text) if "=" in text else text


def phrase_key(phrase: str) -> tuple[str, ...]:
    return words_of(phrase)


def find_phrases(words: tuple[str, ...], vocabulary: Mapping[tuple[str, ...], T]) -> list[T]:
    """Longest match first, left to right: each word belongs to at most one phrase, so the
    "down" of "slowing down" is not counted again on its own."""
    found = []
    starts = _starts(vocabulary)
    i = 0
    while i < len(words):
        if words[i] not in starts:
            i += 1
            continue
        for size in range(min(MAX_PHRASE, len(words) - i), 0, -1):
            key = vocabulary.get(words[i : i + size])
            if key is not None:
                found.append(key)
                i += size
                break
        else:
            i += 1
    return found


_STARTS: dict[int, tuple[Mapping[tuple[str, ...], object], frozenset[str]]] = {}


def _starts(vocabulary: Mapping[tuple[str, ...], object]) -> frozenset[str]:
    """The words a phrase can start with: most words of a text start none, and are skipped."""
    cached = _STARTS.get(id(vocabulary))
    if cached is None or cached[0] is not vocabulary:
        cached = _STARTS[id(vocabulary)] = (vocabulary, frozenset(key[0] for key in vocabulary if key))
    return cached[1]


def contains_phrase(words: tuple[str, ...], phrases: Iterable[tuple[str, ...]]) -> bool:
    """Whether any phrase occurs in ``words`` as whole consecutive words."""
    for phrase in phrases:
        size = len(phrase)
        if size and any(words[i : i + size] == phrase for i in range(len(words) - size + 1)):
            return True
    return False
