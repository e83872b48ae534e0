"""Memory of past incidents: the past alerts most like a new one, with what people said caused them.

Lexical, no model: a past alert is compared with the new one by its alert family (the alert name
without a severity word: ``HostHighCpuLoadWarning`` and ``HostHighCpuLoadCritical`` are one
family), its labels and its log templates, each as TF-IDF vectors over the candidates (a label or
a word most of them share says little) and compared by cosine. Ranking: the same family first,
then what a person gave a verdict on (confirmed or corrected) above the analyst's own unreviewed
answers, then similarity. This module is pure; _recall.py asks ``History`` for the candidates.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import schemas

# Below this, a past alert of another family is not similar enough to be shown.
MIN_SIMILARITY = 0.25
# Labels that name one time series or one scrape, not a place or a cause.
IGNORED_LABELS = frozenset({"alertname", "severity", "prometheus", "receive", "endpoint", "uid", "id"})
_SEVERITY_WORDS = frozenset({"critical", "warning", "warn", "info", "high", "low", "page", "minor", "major"})
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_WORD = re.compile(r"[a-z][a-z0-9_.-]*[a-z0-9]|[a-z]")
# The generated tail of a pod or replica set name (checkout-api-7d9f8b6c4-x2x9k -> checkout-api).
_POD_TAIL = re.compile(r"(-[bcdfghjklmnpqrstvwxz2456789]{6,10})?-[bcdfghjklmnpqrstvwxz2456789]{5}$")
# (Kubernetes draws those suffixes from this alphabet, without vowels: "web-proxy" keeps its name.)
WEEK = timedelta(days=7)


def family(alertname: str) -> str:
    """The alert name's words without severity words, lower-cased: what one rule family shares."""
    words = [w.lower() for w in _CAMEL.findall(alertname)]
    kept = [w for w in words if w not in _SEVERITY_WORDS] or words
    return " ".join(kept)


def label_terms(labels: Mapping[str, str]) -> list[str]:
    terms = []
    for key, value in labels.items():
        if key in IGNORED_LABELS or not value:
            continue
        value = _POD_TAIL.sub("", value) if key in ("pod", "replicaset") else value
        terms.append(f"{key}={value}")
    return terms


def template_terms(templates: Iterable[str]) -> list[str]:
    """The words of log templates (placeholders and numbers left out), one term per occurrence."""
    return [w for text in templates for w in _WORD.findall(text.lower()) if len(w) > 1]


@dataclass(frozen=True)
class Past:
    """A past alert as memory compares it, with the verdict a person gave on it (or its incident)."""

    id: str
    alertname: str
    labels: Mapping[str, str]
    templates: tuple[str, ...]
    received_at: datetime
    category: str
    root_cause: str
    remediation: tuple[str, ...] = ()
    incident_id: str = ""
    feedback: schemas.Feedback | None = None

    @classmethod
    def of(cls, message: schemas.EnrichedAlert, feedback: schemas.Feedback | None = None) -> Past:
        analysis = getattr(message, "analysis", None)
        incident = getattr(message, "incident", None)
        logs = message.evidence.logs
        return cls(
            id=message.id,
            alertname=message.alert.labels.get("alertname", ""),
            labels=message.alert.labels,
            templates=tuple(t.template for t in logs.templates) if logs else (),
            received_at=message.received_at,
            category=str(analysis.category) if analysis else "",
            root_cause=analysis.root_cause if analysis else "",
            remediation=tuple(analysis.remediation) if analysis else (),
            incident_id=incident.id if incident is not None else "",
            feedback=feedback,
        )


@dataclass(frozen=True)
class Recalled:
    past: Past
    similarity: float
    same_family: bool

    @property
    def reviewed(self) -> bool:
        return self.past.feedback is not None

    @property
    def category(self) -> str:
        feedback = self.past.feedback
        if feedback is not None and feedback.corrected_category:
            return str(feedback.corrected_category)
        return self.past.category

    @property
    def cause(self) -> str:
        """A person's actual cause when they gave one; the analysis' when they confirmed it."""
        feedback = self.past.feedback
        if feedback is not None and feedback.actual_cause:
            return feedback.actual_cause
        if feedback is not None and feedback.verdict == "corrected":
            return ""  # the analyst's cause was wrong and no better one was written
        return self.past.root_cause

    @property
    def fix(self) -> str:
        feedback = self.past.feedback
        if feedback is not None and feedback.actual_fix:
            return feedback.actual_fix
        if feedback is not None and feedback.verdict == "corrected":
            return ""
        return "; ".join(self.past.remediation[:2])

    @property
    def standing(self) -> str:
        if self.past.feedback is None:
            return "the analyst's answer, not reviewed"
        return f"{self.past.feedback.verdict} by a person"


def _weights(docs: Sequence[list[str]]) -> list[dict[str, float]]:
    """TF-IDF vectors (smoothed idf) of term lists, normalised to unit length."""
    df = Counter(term for doc in docs for term in set(doc))
    n = len(docs)
    vectors = []
    for doc in docs:
        tf = Counter(doc)
        vector = {t: (1 + math.log(c)) * (math.log((1 + n) / (1 + df[t])) + 1) for t, c in tf.items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vectors.append({t: w / norm for t, w in vector.items()})
    return vectors


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def rank(current: Past, candidates: Sequence[Past], limit: int = 3) -> list[Recalled]:
    """The most similar candidates: same family first, then reviewed, then by similarity."""
    pool = [c for c in candidates if c.id != current.id]
    if not pool:
        return []
    everyone = [current, *pool]
    labels = _weights([label_terms(p.labels) for p in everyone])
    words = _weights([template_terms(p.templates) for p in everyone])
    mine = family(current.alertname)
    recalled = []
    for index, past in enumerate(pool, start=1):
        label_score = _cosine(labels[0], labels[index])
        if current.templates and past.templates:
            score = 0.5 * label_score + 0.5 * _cosine(words[0], words[index])
        else:
            score = label_score
        same = bool(mine) and family(past.alertname) == mine
        if same or score >= MIN_SIMILARITY:
            recalled.append(Recalled(past, round(score, 3), same))
    recalled.sort(key=lambda r: (r.same_family, r.reviewed, r.similarity, r.past.received_at), reverse=True)
    return recalled[:limit]


@dataclass(frozen=True)
class Memory:
    """What history remembers about an alert: similar past ones and how often its family fired."""

    recalled: list[Recalled]
    # Firing messages of the same family in the same namespace over the last seven days.
    fired_this_week: int

    @property
    def last_reviewed(self) -> Recalled | None:
        reviewed = [r for r in self.recalled if r.reviewed and r.same_family]
        return max(reviewed, key=lambda r: r.past.received_at, default=None)

    @property
    def line(self) -> str:
        """One line for a notification: "fired 3 times this week; last confirmed cause: …, fixed by …"."""
        parts = []
        if self.fired_this_week:
            parts.append(f"fired {self.fired_this_week + 1} times this week")
        last = self.last_reviewed
        if last is not None and last.cause:
            said = f"last confirmed cause: {_clip(last.cause)}"
            parts.append(f"{said}, fixed by {_clip(last.fix)}" if last.fix else said)
        return "; ".join(parts)


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
