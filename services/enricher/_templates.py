"""Log lines clustered into templates, so a reader sees each distinct message once, with a count.

Two steps, both general (nothing here knows one product's log format):

1. **Masking** (``_masking``): the values in a line become ``<*>``; lines masked alike (one *shape*) share a
   template at once. One regular-expression pass per line, and none for a line seen before word for word.
2. **Merging, Drain-like**, once per shape, not per line: values without digits (user names, program names)
   leave lines of one message in several shapes. A shape joins the most similar group with as many words
   and the same first word when at least ``_SIMILARITY`` of its words agree in place; the words that differ
   become ``<*>``. Then a merged word that takes only ``_FEW`` distinct values across the batch (none of
   them holding a value) is read as part of the message ("VM Started" / "VM Paused", GET / POST), not a
   value, and the group splits on it. Both steps see the whole batch ``cluster`` is given, once.

The template shown keeps each value's kind where it has one (``<ip>``, ``<n>``, ...) and what merged words
share (``user=<*>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import LOG_SEVERITY_RANK, LogSeverity, LogTemplate
from services.enricher._masking import WILD, masked, shown

# Searched in the lower-cased line; each look-ahead rules most word starts out with one character test.
_LEVEL = re.compile(r"\b(?=[lsv])(?:level|lvl|severity)[\"']?\s*[=:]\s*[\"']?([a-z]+)")
_ERROR_WORDS = re.compile(
    r"\b(?=[fpcetorunk])(?:fatal|panic|critical|error|err|exception|traceback|failed|failure|oomkilled|"
    r"refused|unreachable|timed out|no space left|out of memory|oom|killed)\b"
)
_WARNING_WORDS = re.compile(r"\b(?=[wdrs])(?:warn|warning|deprecated|retrying|slow)\b")
_SAMPLE_LIMIT = 400
# Share of a group's words a new shape must repeat, in place, to join it; below, it is a message of its own.
_SIMILARITY = 0.6
# A merged word that takes this many distinct values or fewer names the message ("VM Started", "VM Paused"),
# where a value (a user, a host) takes many.
_FEW = 3


def template_of(line: str) -> str:
    """One line's template on its own: its values masked, each by its kind where it has one."""
    return " ".join(shown(line))


def severity_of(line: str) -> LogSeverity:
    """The level a line declares (``level=warn``), else what its words suggest."""
    low = line.lower()
    declared = _LEVEL.search(low) if "lev" in low or "lvl" in low or "severity" in low else None
    if declared:
        level = declared.group(1)
        if level.startswith(("err", "fat", "pan", "crit", "emerg", "alert")):
            return "error"
        if level.startswith("warn"):
            return "warning"
        return "info"
    if _ERROR_WORDS.search(low):
        return "error"
    if _WARNING_WORDS.search(low):
        return "warning"
    return "info"


class _Group:
    """Shapes of one message: their common words, ``<*>`` (or ``user=<*>``) where they differ."""

    __slots__ = ("shapes", "words")

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.shapes: list[tuple[str, list[str], int]] = []


_DELIMITERS = frozenset("=:\"'([{/,<>)]}")


def _generalised(kept: str, new: str) -> str:
    """A word two shapes spell differently: what they share up to (and from) a delimiter, ``<*>`` between."""
    head = 0
    for index, (a, b) in enumerate(zip(kept, new, strict=False)):
        if a != b:
            break
        if a in _DELIMITERS:
            head = index + 1
    tail = 0
    for index, (a, b) in enumerate(zip(reversed(kept[head:]), reversed(new[head:]), strict=False)):
        if a != b:
            break
        if a in _DELIMITERS:
            tail = index + 1
    return kept[:head] + WILD + (kept[len(kept) - tail :] if tail else "")


def _score(kept: list[str], new: list[str]) -> float:
    """Share of the words the group repeats in place; a word merged to ``<*>`` does not count, as in Drain."""
    same = 0
    for old, word in zip(kept, new, strict=True):
        if old == word:
            same += 1
    return same / len(new) if new else 1.0


def _place(shapes: dict[str, int]) -> list[_Group]:
    """Shapes in groups: each joins the most similar group of its length and first word, if similar enough."""
    routes: dict[tuple[int, str], list[_Group]] = {}
    for shape, count in shapes.items():
        words = shape.split()
        first = words[0] if words and WILD not in words[0] else WILD
        groups = routes.setdefault((len(words), first), [])
        best, best_score = None, -1.0
        for group in groups:
            score = _score(group.words, words)
            if score > best_score:
                best, best_score = group, score
        if best is None or best_score < _SIMILARITY:
            best = _Group(words)
            groups.append(best)
        elif best.words != words:
            best.words = [old if old == word else WILD for old, word in zip(best.words, words, strict=True)]
        best.shapes.append((shape, words, count))
    return [group for groups in routes.values() for group in groups]


def _split(group: _Group) -> list[_Group]:
    """A merged word taking only a couple of values is part of the message, not a value: split on it."""
    if len(group.shapes) < 2:
        return [group]
    steady = [
        at
        for at, word in enumerate(group.words)
        if word == WILD
        and len({words[at] for _, words, _ in group.shapes}) <= _FEW
        and all(WILD not in words[at] for _, words, _ in group.shapes)
    ]
    if not steady:
        return [group]
    parts: dict[tuple[str, ...], _Group] = {}
    for shape in group.shapes:
        words = shape[1]
        key = tuple(words[at] for at in steady)
        part = parts.get(key)
        if part is None:
            part = parts[key] = _Group(list(words))
        else:
            part.words = [old if old == word else WILD for old, word in zip(part.words, words, strict=True)]
        part.shapes.append(shape)
    return list(parts.values())


def _grouped(shapes: dict[str, int]) -> dict[str, _Group]:
    """Each shape's group."""
    return {shape[0]: part for group in _place(shapes) for part in _split(group) for shape in part.shapes}


def _shown_in(group: _Group, shape: str, line: str) -> str:
    """The group's template as a person reads it: one line's value kinds, and what merged words share."""
    own = shape.split()
    kinds = shown(line)
    words = []
    for at, word in enumerate(group.words):
        if word == own[at]:
            words.append(kinds[at])
            continue
        merged = own[at]
        for _, other, _ in group.shapes:
            if other[at] != merged:
                merged = _generalised(merged, other[at])
        words.append(merged)
    return " ".join(words)


@dataclass(slots=True)
class _Tally:
    """The lines of one shape: a shape keeps every word but its values, so its severity is read once."""

    severity: LogSeverity
    count: int
    first: float
    last: float
    line: str


def _tally(entries: Iterable[tuple[float, str]]) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = {}
    # Logs repeat lines word for word (about half of them in Loghub): those skip the masking.
    by_line: dict[str, _Tally] = {}
    for timestamp, line in entries:
        found = by_line.get(line)
        if found is None:
            shape = masked(line)
            found = tallies.get(shape)
            if found is None:
                found = tallies[shape] = by_line[line] = _Tally(
                    severity_of(line), 1, timestamp, timestamp, line
                )
                continue
            by_line[line] = found
        found.count += 1
        if timestamp < found.first:
            found.first = timestamp
        elif timestamp > found.last:
            found.last = timestamp
    return tallies


def _clusters(tallies: dict[str, _Tally]) -> dict[str, tuple[_Group, LogSeverity]]:
    """Each shape's cluster: its group, and its severity, since an error and an info line never share one."""
    groups = _grouped({shape: tally.count for shape, tally in tallies.items()})
    return {shape: (groups[shape], tally.severity) for shape, tally in tallies.items()}


def cluster(entries: Iterable[tuple[float, str]]) -> list[LogTemplate]:
    """Every template with its count, first/last time and a sample, most severe and frequent first."""
    tallies = _tally(entries)
    merged: dict[tuple[_Group, LogSeverity], tuple[str, _Tally]] = {}
    for shape, key in _clusters(tallies).items():
        tally = tallies[shape]
        found = merged.get(key)
        if found is None:
            merged[key] = (shape, _Tally(tally.severity, tally.count, tally.first, tally.last, tally.line))
        else:
            found[1].count += tally.count
            found[1].first = min(found[1].first, tally.first)
            found[1].last = max(found[1].last, tally.last)
    templates = [
        (_shown_in(group, shape, tally.line), tally) for (group, _), (shape, tally) in merged.items()
    ]
    templates.sort(key=lambda t: (LOG_SEVERITY_RANK[t[1].severity], -t[1].count, t[1].first, t[0]))
    return [
        LogTemplate(
            template=template,
            count=tally.count,
            severity=tally.severity,
            first=datetime.fromtimestamp(tally.first, UTC),
            last=datetime.fromtimestamp(tally.last, UTC),
            sample=tally.line[:_SAMPLE_LIMIT],
        )
        for template, tally in templates
    ]


def cluster_labels(lines: list[str]) -> list[int]:
    """Which of ``cluster``'s templates each line falls in: what a benchmark compares with labelled events."""
    clusters = _clusters(_tally((0.0, line) for line in lines))
    numbers: dict[tuple[_Group, LogSeverity], int] = {}
    return [numbers.setdefault(clusters[masked(line)], len(numbers)) for line in lines]


def within_budget(templates: list[LogTemplate], max_templates: int, char_budget: int) -> list[LogTemplate]:
    """The leading templates that fit both limits; the caller reports how many were left out."""
    kept: list[LogTemplate] = []
    used = 0
    for template in templates:
        size = len(template.template) + len(template.sample)
        if len(kept) >= max_templates or used + size > char_budget:
            break
        kept.append(template)
        used += size
    return kept
