"""What the alert itself says about its cause: weighted word signals from its name, expression,
annotations and label names, summed per category.

Each signal in the catalogue (``signals:`` in any rules file) names phrases and a category. A
phrase counts once per field it is found in, weighted by how much that field says: the alert's
name and the metric names of its expression are what the rule's author chose to measure, a
description is prose that mentions many things. The best-supported category wins when it is
clearly ahead; otherwise nothing decides and the answer is ``unknown``. The verdict keeps the
phrases that decided it, so the explanation is written only from them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from schemas import Category
from services.analyst._catalogue import Signal
from services.analyst._expr import parse_expression
from services.analyst._words import find_phrases, metric_words, phrase_key, prose, words_of
from services.incidents import NumbersAlike, salient

FIELD_WEIGHTS = {
    "name": 1.0,
    "expr": 0.9,
    "expr_other": 0.35,
    "summary": 0.6,
    "description": 0.35,
    "label": 1.0,
}
FIELD_WORDS = {
    "name": "the alert's name",
    "expr": "its expression",
    "expr_other": "its expression",
    "summary": "its summary",
    "description": "its description",
    "label": "its labels",
}
# Below this total nothing decides; a runner-up this close makes the verdict uncertain.
DECIDING_SCORE = 0.55
CLOSE_RATIO = 0.8
MAX_TEXT = 2000


@dataclass(frozen=True, eq=False)
class Clue:
    """One phrase of one signal found in one field. Built once per catalogue and compared by
    identity, so a tuple of clues is a cheap key for the verdict they lead to."""

    field: str
    phrase: str
    signal: Signal


@dataclass(frozen=True)
class Verdict:
    """Shared by every alert whose words lead to it: immutable, its readings computed once."""

    category: Category
    score: float
    runner_up: float
    clues: tuple[Clue, ...] = ()
    symptoms: tuple[Clue, ...] = ()

    @cached_property
    def confidence(self) -> float:
        """0.25-0.7: how strongly and how unambiguously the alert's own words point one way."""
        if self.category == "unknown" or self.score <= 0:
            return 0.2
        strength = min(self.score, 2.0) / 2.0
        margin = (self.score - self.runner_up) / self.score
        confidence = 0.25 + 0.25 * strength + 0.2 * margin
        # What the alert says (its name, restated in its summary and description) and what it
        # measures (its expression) are two witnesses; one alone is one author's word for it.
        witnesses = {clue.field in ("expr", "expr_other") for clue in self.clues}
        return min(confidence, 0.55) if len(witnesses) < 2 else confidence

    @cached_property
    def basis(self) -> str:
        """The deciding clues as a reader reads them: 'the alert's name says "out of memory"'."""
        by_field: dict[str, list[str]] = defaultdict(list)
        for clue in self.clues:
            where = FIELD_WORDS[clue.field]
            if clue.phrase not in by_field[where]:
                by_field[where].append(clue.phrase)
        # Fields that say the same words are named together: 'the alert's name, expression and
        # summary all say "cpu"', not one clause per field repeating "cpu".
        same: dict[str, list[str]] = defaultdict(list)
        for where, phrases in by_field.items():
            same[", ".join(f'"{p}"' for p in phrases[:3])].append(where)
        parts = []
        for quoted, wheres in same.items():
            if len(wheres) == 1:
                where = wheres[0]
                verb = {"its expression": "measures", "its labels": "carry"}.get(where, "says")
                parts.append(f"{where} {verb} {quoted}")
            else:
                names = [wheres[0], *(w.removeprefix("its ") for w in wheres[1:])]
                both = "both" if len(names) == 2 else "all"
                parts.append(f"{', '.join(names[:-1])} and {names[-1]} {both} say {quoted}")
        return "; ".join(parts)

    @cached_property
    def says(self) -> str:
        best = max(self.clues, key=lambda clue: clue.signal.weight * FIELD_WEIGHTS[clue.field], default=None)
        return best.signal.says if best is not None else ""

    @cached_property
    def symptom_words(self) -> str:
        return ", ".join(dict.fromkeys(clue.phrase for clue in self.symptoms))


class Vocabulary:
    """The catalogue's signals indexed by stemmed phrase, per field."""

    def __init__(self, signals: list[Signal]) -> None:
        # The clues themselves, built once: a clue is immutable, every alert that says it shares it.
        self.by_field: dict[str, dict[tuple[str, ...], list[Clue]]] = {
            name: {} for name in ("name", "expr", "summary", "description")
        }
        self.metrics: dict[str, list[Signal]] = defaultdict(list)
        self.labels: dict[str, list[Signal]] = defaultdict(list)
        for signal in signals:
            for phrase in signal.words:
                key = phrase_key(phrase)
                for name in signal.fields or self.by_field:
                    self.by_field[name].setdefault(key, []).append(Clue(name, phrase, signal))
            for metric in signal.metrics:
                self.metrics[metric.lower()].append(signal)
            for label in signal.labels:
                self.labels[label.lower()].append(signal)
        self._known = {
            name: frozenset(word for key in keys for word in key) for name, keys in self.by_field.items()
        }
        self.lone_numbers = {name: NumbersAlike(known) for name, known in self._known.items()}

    def known(self, name: str) -> frozenset[str]:
        """The words of the field's phrases (``salient``)."""
        return self._known[name]

    def clues(self, name: str, words: tuple[str, ...]) -> list[Clue]:
        found = find_phrases(words, self.by_field[name])
        return [clue for clues in found for clue in clues]


def _expr_words(expr: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The words of the measured metric, the words of the other metrics (denominators, guards
    such as ``max_connections`` or ``kube_cronjob_spec_suspend``), and whole names of both."""
    parsed = parse_expression(expr)
    subject: list[str] = []
    others: list[str] = []
    for position, metric in enumerate(parsed.metrics):
        target = subject if position == 0 else others
        target += [*metric_words(metric), "|"]  # no phrase spans two metric names
    for value in parsed.values:
        subject += [*words_of(value), "|"]
    outer = parsed.functions[:1] if expr.lstrip().startswith(parsed.functions[:1]) else ()
    whole = tuple(name.lower() for name in (*parsed.metrics[:1], *outer))
    return tuple(subject), tuple(others), whole


class SignalReader:
    def __init__(self, signals: list[Signal]) -> None:
        self.vocabulary = Vocabulary(signals)

    @lru_cache(maxsize=2048)  # noqa: B019 - one reader per catalogue, alive as long as the analyst
    def _fixed_clues(
        self, alertname: str, expr: str, label_names: frozenset[str], resource: str
    ) -> tuple[Clue, ...]:
        """The clues of what repeats across an alert's episodes: its name, expression and labels."""
        v = self.vocabulary
        clues = v.clues("name", words_of(alertname))
        if expr or resource:
            words, others, whole = _expr_words(expr)
            # A `resource` label (kube-state-metrics' quotas and requests) names what is measured.
            clues += v.clues("expr", (*words, *words_of(resource)))
            clues += [Clue("expr_other", c.phrase, c.signal) for c in v.clues("expr", others)]
            clues += [Clue("expr", name, s) for name in whole for s in v.metrics.get(name, [])]
        clues += [Clue("label", name, s) for name in sorted(label_names) for s in v.labels.get(name, [])]
        return tuple(clues)

    def _said(self, name: str, text: str) -> tuple[Clue, ...]:
        return self._said_text(name, self.vocabulary.lone_numbers[name].zeroed(prose(text)))

    # A rule's summaries differ by their subject's number: read as one (``lone_numbers``), they repeat.
    @lru_cache(maxsize=4096)  # noqa: B019 - as above
    def _said_text(self, name: str, text: str) -> tuple[Clue, ...]:
        return self._said_words(name, salient(words_of(text), self.vocabulary.known(name)))

    # A rule's summaries differ by their subject's name: kept to the vocabulary's words, they repeat.
    @lru_cache(maxsize=4096)  # noqa: B019 - as above
    def _said_words(self, name: str, words: tuple[str, ...]) -> tuple[Clue, ...]:
        return tuple(self.vocabulary.clues(name, words))

    def read(self, alertname: str, expr: str, labels: dict[str, str], annotations: dict[str, str]) -> Verdict:
        clues = self._fixed_clues(alertname, expr, frozenset(labels), labels.get("resource", ""))
        for name in ("summary", "description"):
            text = annotations.get(name, "")
            if text and "{{" not in text:  # an unrendered template says nothing about this alert
                clues += self._said(name, text[:MAX_TEXT])
        return _decided(clues)


def decide(clues: Sequence[Clue]) -> Verdict:
    scores: dict[Category, float] = defaultdict(float)
    counted: set[tuple[str, int]] = set()
    causes, symptoms = [], []
    for clue in clues:
        if clue.signal.category == "unknown":
            symptoms.append(clue)
        key = (clue.field, id(clue.signal))
        if key in counted or not clue.signal.weight:  # once per field, however often its words repeat
            continue
        counted.add(key)
        scores[clue.signal.category] += clue.signal.weight * FIELD_WEIGHTS[clue.field]
        if clue.signal.category != "unknown":
            causes.append(clue)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][0] == "unknown" or ranked[0][1] < DECIDING_SCORE:
        return Verdict("unknown", 0.0, 0.0, (), tuple(symptoms))
    (best, score), runner_up = ranked[0], ranked[1][1] if len(ranked) > 1 else 0.0
    if runner_up >= CLOSE_RATIO * score:
        return Verdict("unknown", 0.0, 0.0, tuple(causes), tuple(symptoms))
    return Verdict(
        best, score, runner_up, tuple(c for c in causes if c.signal.category == best), tuple(symptoms)
    )


# Alerts of one rule say the same words: their clues, compared by identity, lead to one shared verdict.
_decided = lru_cache(maxsize=4096)(decide)
