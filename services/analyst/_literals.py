"""Literal prefilters for the catalogue's text patterns.

Most alerts match none of the cause-level log and text signatures, and running a dozen
case-insensitive alternations over every alert's texts was half of the rules analyst's
time. A pattern such as ``dial tcp .*: connection refused`` can only match a text that
contains "dial tcp " or, for another branch, another literal; a substring test of the
lower-cased text settles most blocks before any regular expression runs.

The literals are read from the parsed pattern, so a pattern the extraction does not
understand simply gets no prefilter (its regular expression always runs): a prefilter may
let a non-match through, never stop a match.
"""

from __future__ import annotations

from functools import cache

try:  # The parser is private; without it every pattern just runs in full.
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without them
    sre_parser = None
    sre_constants = None

# Shorter literals are too common to rule anything out.
MIN_LITERAL = 3


def _best(candidates: list[frozenset[str]]) -> frozenset[str] | None:
    """The most selective requirement: the one whose shortest literal is longest."""
    if not candidates:
        return None
    return max(candidates, key=lambda found: (min(map(len, found)), -len(found)))


def _required(sequence: object) -> frozenset[str] | None:
    """Literals one of which every match of ``sequence`` contains; None when nothing is certain."""
    c = sre_constants
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if len(run) >= MIN_LITERAL:
            candidates.append(frozenset({"".join(run)}))
        run.clear()

    for op, argument in sequence:  # type: ignore[attr-defined]
        if op == c.LITERAL and argument < 128:
            run.append(chr(argument).lower())
            continue
        close_run()
        found: frozenset[str] | None = None
        if op == c.SUBPATTERN:
            found = _required(argument[-1])
        elif op == c.ATOMIC_GROUP:
            found = _required(argument)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and argument[0] >= 1:
            found = _required(argument[2])
        elif op == c.BRANCH:
            branches = [_required(branch) for branch in argument[1]]
            if all(branch is not None for branch in branches):
                found = frozenset().union(*branches)  # type: ignore[arg-type]
        if found is not None:
            candidates.append(found)
    close_run()
    return _best(candidates)


@cache
def pattern_literals(pattern: str) -> frozenset[str] | None:
    """Lower-case literals one of which any match of ``pattern`` (case-insensitive) contains."""
    if sre_parser is None:
        return None
    try:
        return _required(sre_parser.parse(pattern))
    except Exception:
        return None


def block_literals(patterns: tuple[str, ...]) -> frozenset[str] | None:
    """For a list of alternatives: the union of their literals, or None if one has none."""
    found: set[str] = set()
    for pattern in patterns:
        literals = pattern_literals(pattern)
        if literals is None:
            return None
        found |= literals
    return frozenset(found)


def may_match(literals: frozenset[str] | None, lowered: str | None) -> bool:
    """False only when no literal occurs in the lower-cased text (None: the text is not ASCII)."""
    if literals is None or lowered is None:
        return True
    # map() keeps the loop in C: a generator expression here was a tenth of the analyst's time.
    return any(map(lowered.__contains__, literals))
