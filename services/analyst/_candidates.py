"""Which rules, and which of their blocks, can hold for an alert: settled per kind of alert, not per alert.

Two steps, each remembered. The alert's shape (its name, which kinds of evidence it has, the
category its own words point at) rules out most blocks without reading any text. Then the
literals the remaining text and log patterns require (``_literals``) are looked up once in the
alert's texts; the set of those present rules out the blocks none of whose literals occur. Both
are exact: a block left out is one ``match`` would have rejected, so the answer is unchanged; only
the blocks worth a regular expression reach ``match``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from services.analyst._catalogue import Catalogue, Conditions, Rule
from services.analyst._match import any_text, name_holds
from services.analyst._view import AlertView

# Bounded for hostile input (made-up alert names, varied texts): about 6 MB at most; past the bound
# a shape is computed each time (slower, never wrong).
MAX_SHAPES = 1024
# Distinct sets of present literals remembered per shape: alerts of one name mostly share one.
MAX_PRESENT_SETS = 16
# Looking up every literal costs in proportion to the text; past this many characters (logs) it
# costs more than ``match``'s own prefilter, which stops at the deciding rule and its rival.
MAX_SCANNED_CHARS = 256
# (literals, text) pairs remembered with the literals found: a storm's texts differ by little more
# than numbers. Only the remembered shapes' literals are kept here, as those shapes hold them: about
# 2 MB at most (texts of at most MAX_SCANNED_CHARS).
MAX_SCANNED_TEXTS = 4096
_DIGIT_RUNS = re.compile(r"\d+")

Literals = frozenset[str] | None
Candidates = list[tuple[Rule, list[Conditions]]]


def _may_hold(block: Conditions, view: AlertView) -> bool:
    """What a block asks of the alert's name, signals and kinds of evidence, without reading any."""
    if block.logs and not view.logs:
        return False
    if block.metrics and not view.series:
        return False
    if block.signals is not None and block.signals != view.signal_category:
        return False
    return name_holds(block, view.alertname, view.name_words)


def _literals(patterns: list[str]) -> Literals:
    """What ``match`` prefilters the patterns with; None when it cannot (no patterns, or no literal)."""
    return any_text(patterns)[1] if patterns else None


class _LiteralScan:
    """A shape's literals, those without a digit apart: no occurrence of one of them spans a digit,
    so it is found in a text exactly when it is found in the text with each run of digits written
    as one, and the texts of a storm that differ by their subjects' numbers ("node-704") are
    scanned once. ``remembered``: the shape is kept, so its scans may be; a shape made for one alert
    (past MAX_SHAPES) scans each time, or the cache would keep, with each of its texts, literals that
    no shape holds any more."""

    def __init__(self, literals: frozenset[str], *, remembered: bool) -> None:
        self.every = literals
        self.numbered = frozenset(literal for literal in literals if _DIGIT_RUNS.search(literal))
        self.plain = literals - self.numbered
        self._scan = _found if remembered else _found.__wrapped__

    def present(self, lowered: str | None) -> frozenset[str]:
        """The literals found in the lower-cased texts; all of them when the texts are not ASCII
        (then ``match`` runs every pattern in full)."""
        if lowered is None:
            return self.every
        found = self._scan(self.plain, _DIGIT_RUNS.sub("0", lowered))
        if self.numbered:
            found |= frozenset(filter(lowered.__contains__, self.numbered))
        return found


@lru_cache(maxsize=MAX_SCANNED_TEXTS)
def _found(literals: frozenset[str], lowered: str) -> frozenset[str]:
    return frozenset(filter(lowered.__contains__, literals))


def _open(literals: Literals, present: frozenset[str]) -> bool:
    return literals is None or not literals.isdisjoint(present)


class Shape:
    """The rules whose blocks can hold for one shape of alert, with each block's required literals."""

    def __init__(self, rules: list[tuple[Rule, list[Conditions]]], *, remembered: bool) -> None:
        self.rules = [
            (rule, [(block, _literals(block.logs), _literals(block.text)) for block in blocks])
            for rule, blocks in rules
        ]
        gated = [gates for _, blocks in self.rules for gates in blocks]
        in_logs = frozenset().union(*(logs for _, logs, _ in gated if logs is not None))
        in_texts = frozenset().union(*(text for _, _, text in gated if text is not None))
        self.log_literals = _LiteralScan(in_logs, remembered=remembered)
        self.text_literals = _LiteralScan(in_texts, remembered=remembered)
        self._by_present: dict[tuple[frozenset[str], frozenset[str]], Candidates] = {}
        self._unscanned = [(rule, [gates[0] for gates in blocks]) for rule, blocks in self.rules]

    def candidates(self, view: AlertView) -> Candidates:
        if len(view.texts_joined) > MAX_SCANNED_CHARS:  # the logs are in it too
            return self._unscanned
        present = (
            self.log_literals.present(view.logs_lowered),
            self.text_literals.present(view.texts_lowered),
        )
        found = self._by_present.get(present)
        if found is None:
            logs, texts = present
            found = []
            for rule, blocks in self.rules:
                open_blocks = [
                    b for b, in_logs, in_text in blocks if _open(in_logs, logs) and _open(in_text, texts)
                ]
                if open_blocks:
                    found.append((rule, open_blocks))
            if len(self._by_present) < MAX_PRESENT_SETS:
                self._by_present[present] = found
        return found


class CandidateIndex:
    """The catalogue's rules in decision order, narrowed to those an alert can satisfy."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._shapes: dict[tuple[str, bool, bool, str], Shape] = {}

    def candidates(self, view: AlertView) -> Candidates:
        key = (view.alertname, bool(view.logs), bool(view.series), view.signal_category)
        shape = self._shapes.get(key)
        if shape is None:
            rules = []
            for rule in self.catalogue.rules:
                blocks = [b for b in rule.when if _may_hold(b, view)]
                if blocks:
                    rules.append((rule, blocks))
            remembered = len(self._shapes) < MAX_SHAPES
            shape = Shape(rules, remembered=remembered)
            if remembered:
                self._shapes[key] = shape
        return shape.candidates(view)
