"""`just eval --privacy`: what of the leak corpus reaches alerts.enriched and the LLM prompt.

Each corpus line (tests/privacy/corpus) travels the way a Loki line does: through the enricher's
redaction (``services.privacy.redact``) into an EnrichedAlert's log evidence, then through the
analyst's own prompt builder, with the anonymiser (LLM_ANONYMIZE) on and off. A planted value
*reaches* a stage when it (or one of its fragments) occurs in what that stage emits; a look-alike
is *wrongly masked* when it no longer does.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

import schemas
from services.analyst._anonymize import Anonymizer
from services.analyst._prompt import build_prompt
from services.analyst.eval._paths import PRIVACY_CORPUS
from services.analyst.eval._scenarios import build_message

# Large enough that no corpus line is dropped to fit: the figure is about scrubbing, not budgets.
_BUDGET = 1_000_000

_EXAMPLES = 30

Redact = Callable[[str], str]


class Planted(msgspec.Struct, frozen=True):
    kind: str
    value: str
    # "secret" (redaction's job, always on) or "identifier" (the anonymiser's, LLM_ANONYMIZE).
    class_: str = msgspec.field(name="class")
    fragments: list[str] = []

    def reaches(self, text: str) -> bool:
        return any(part in text for part in (self.fragments or [self.value]))


class Kept(msgspec.Struct, frozen=True):
    kind: str
    value: str
    k8s: bool = False


class Entry(msgspec.Struct, frozen=True):
    id: str
    format: str
    line: str
    planted: list[Planted] = []
    keep: list[Kept] = []


def load_corpus(path: Path = PRIVACY_CORPUS) -> list[Entry]:
    decoder = msgspec.json.Decoder(Entry)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def default_redact() -> tuple[Redact, bool]:
    """The enricher's redaction, and whether it exists (until it does, lines pass unchanged)."""
    try:
        from services.privacy import redact  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return (lambda text: text), False
    return redact, True


def _message(line: str) -> schemas.EnrichedAlert:
    return build_message(
        {
            "alert": {
                "labels": {"alertname": "PaymentsErrorRate", "severity": "critical", "service": "payments"},
                "annotations": {"summary": "payments error rate above 5%"},
                "startsAt": "2024-05-14T09:15:00Z",
            },
            "logs": [{"severity": "error", "count": 3, "sample": line}],
        }
    )


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return []


def prompt_text(line: str, anonymizer: Anonymizer | None) -> str:
    """What the provider would read of ``line``: the user message, raw and with its JSON decoded."""
    scrub = anonymizer.scrub_json if anonymizer else (lambda text: text)
    prompt = build_prompt(_message(line), _BUDGET, scrub)
    user = prompt.messages[-1]["content"]
    return user + "\n" + "\n".join(_strings(json.loads(user)))


@dataclass
class KindCount:
    total: int = 0
    enriched: int = 0
    llm_on: int = 0
    llm_off: int = 0


@dataclass
class PrivacyReport:
    redaction: bool
    lines: int = 0
    planted: dict[tuple[str, str], KindCount] = field(default_factory=dict)
    lookalikes: Counter[str] = field(default_factory=Counter)
    masked_by_redaction: Counter[str] = field(default_factory=Counter)
    masked_by_anonymiser: Counter[str] = field(default_factory=Counter)
    k8s_names: int = 0
    k8s_names_left: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.examples) < _EXAMPLES:
            self.examples.append(problem)

    def reaching(self, class_: str, stage: str) -> int:
        return sum(getattr(c, stage) for (cls, _), c in self.planted.items() if cls == class_)

    def total(self, class_: str) -> int:
        return sum(c.total for (cls, _), c in self.planted.items() if cls == class_)

    @property
    def masked_share(self) -> float:
        masked = sum(self.masked_by_redaction.values()) + sum(self.masked_by_anonymiser.values())
        return masked / max(1, sum(self.lookalikes.values()))


def measure_privacy(entries: list[Entry], redact: Redact, redaction: bool = True) -> PrivacyReport:
    report = PrivacyReport(redaction=redaction)
    for entry in entries:
        report.lines += 1
        enriched = redact(entry.line)
        off = prompt_text(enriched, None)
        on = prompt_text(enriched, Anonymizer())
        k8s_on = prompt_text(enriched, Anonymizer(k8s_names=True))
        for planted in entry.planted:
            count = report.planted.setdefault((planted.class_, planted.kind), KindCount())
            count.total += 1
            count.enriched += planted.reaches(enriched)
            count.llm_off += planted.reaches(off)
            count.llm_on += planted.reaches(on)
            if planted.reaches(on):
                report.note(f"{entry.id}: {planted.kind} {planted.value[:60]!r} reaches the LLM")
        for kept in entry.keep:
            report.lookalikes[kept.kind] += 1
            if kept.value not in enriched:
                report.masked_by_redaction[kept.kind] += 1
                report.note(f"{entry.id}: {kept.kind} {kept.value!r} masked by redaction")
            elif kept.value not in on:
                report.masked_by_anonymiser[kept.kind] += 1
                report.note(f"{entry.id}: {kept.kind} {kept.value!r} masked by the anonymiser")
            if kept.k8s:
                report.k8s_names += 1
                report.k8s_names_left += kept.value in k8s_on
    return report
