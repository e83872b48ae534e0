"""The embedded rules analyst: the catalogue applied to the alert and its evidence.

The matching rule with the highest priority wins. Its confidence rises with each
corroborating block that also holds; it falls when a cause-level rule of another category
holds too (the evidence is ambiguous) and when no evidence could be collected, because then
only the alert's name speaks for the cause.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import msgspec

import schemas
from services.analyst._candidates import CandidateIndex
from services.analyst._catalogue import (
    Catalogue,
    Rule,
    applies,
    chosen,
    conditioned_on,
    load_catalogue,
    template_of,
    variants_of,
)
from services.analyst._match import Hit, first_match, match
from services.analyst._promql_text import scoped_queries
from services.analyst._signals import SignalReader, Verdict
from services.analyst._view import AlertView, expression_of, is_exporter_job, names_itself, view_of

CORROBORATION_BONUS = 0.05
NO_EVIDENCE_PENALTY = 0.15
MAX_CONFIDENCE = 0.95
MIN_CONFIDENCE = 0.05
MAX_EVIDENCE_LINES = 8
# A second cause-level rule of another category that also holds makes the answer less certain.
RIVAL_PRIORITY = 60
RIVAL_PENALTY = 0.15

# What a scrape adds to every series: who was scraped, not what the series is about.
SCRAPE_TARGET_LABELS = frozenset({"job", "instance", "endpoint", "service", "pod", "container", "namespace"})

_PLACEHOLDER = re.compile(r"\$\{(\w+)(?:\|([^}]*))?\}")


@lru_cache(maxsize=4096)
def _pieces(template: str) -> tuple[str, tuple[tuple[str, str | None, str, bool], ...]]:
    """The template split once: the text before the first placeholder, then each placeholder's
    name and default with the text that follows it, and whether it stands inside a code span."""
    split = _PLACEHOLDER.split(template)
    pieces = []
    in_code = split[0].count("`") % 2 == 1
    for name, default, text in zip(split[1::3], split[2::3], split[3::3], strict=True):
        pieces.append((name, default, text, in_code))
        in_code ^= text.count("`") % 2 == 1
    return split[0], tuple(pieces)


# In a code span a value is pasted into a shell or a query: a backtick or a newline would end the
# span or the command, a double quote the matcher, `;` and `$(` would run something else. Such a
# value, or one longer than any name a command takes (DNS and Kubernetes names stop at 253), is left
# as its stand-in to be filled in.
_UNSAFE_IN_CODE = re.compile(r'[`"\x00-\x1f\x7f-\x9f\u2028\u2029;]|\$\(')
MAX_CODE_VALUE = 253
# In prose a value is one line, opens no code span, and a name is shortened around an ellipsis.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_PROSE_NAME = 100
MAX_PROSE_TEXT = 400


def _for_code(value: str, name: str, default: str | None) -> str:
    if not _UNSAFE_IN_CODE.search(value) and len(value) <= MAX_CODE_VALUE:
        return value
    return default if default and default.startswith("<") else f"<{name}>"


def _for_prose(value: str) -> str:
    plain = len(value) <= MAX_PROSE_NAME and value.isprintable() and "`" not in value and "  " not in value
    if plain and value == value.strip():
        return value  # what the rest would give back unchanged: most values
    value = _CONTROL.sub(" ", value)
    if len(value.split()) != 1 or "`" in value:
        value = " ".join(value.split()).replace("`", "'")
    if len(value) > MAX_PROSE_TEXT:
        return value[: MAX_PROSE_TEXT - 3] + "..."
    if len(value) > MAX_PROSE_NAME and " " not in value:
        keep = (MAX_PROSE_NAME - 1) // 2
        return f"{value[:keep]}…{value[-keep:]}"
    return value


# An evidence line holds label values, log samples and annotations as they came: made safe as a
# prose value is (one line, no code span), and bounded around an ellipsis in its middle, so that
# both what the line is (its head) and its figures (its tail) stay readable.
MAX_EVIDENCE_LINE = 600


def evidence_line(line: str) -> str:
    if len(line) <= MAX_EVIDENCE_LINE and line.isprintable() and "`" not in line:
        return line  # most lines
    line = " ".join(_CONTROL.sub(" ", line).split()).replace("`", "'")
    if len(line) > MAX_EVIDENCE_LINE:
        keep = (MAX_EVIDENCE_LINE - 1) // 2
        return f"{line[:keep]}…{line[-keep:]}"
    return line


def _stand_in(value: str, name: str) -> bool:
    """Whether a value only names its variable: a label whose value is its own name (``job="job"``),
    or the stand-in a template gives in its place ("the job", "<job>")."""
    spoken = name.replace("_", " ")
    return value.lower() in (spoken, f"the {spoken}", f"<{name}>")


def _in_plural(before: str, name: str) -> str:
    """The text before a list of values ("Evicted, Error") with the noun that introduces it, the
    variable's own name, in the plural: "(reason " reads "(reasons "; "" when no such noun does."""
    noun = f"{name.replace('_', ' ')} "
    if not before.endswith(noun) or before[: -len(noun)][-1:].isalnum():
        return ""
    head = before[: -len(noun)] + noun[:-1]
    if noun.endswith(("s ", "x ", "ch ", "sh ")):
        return f"{head}es "
    if noun.endswith("y ") and noun[-3:-2] not in "aeiou":
        return f"{head[:-1]}ies "
    return f"{head}s "


def _without_parenthetical(before: str, after: str) -> tuple[str, str] | None:
    """The text around a value with the parenthetical holding it removed ("Target x (job the job) does"
    reads "Target x does"); None when the value stands in no parenthetical of its own."""
    opened = before.rfind("(")
    closed = after.find(")")
    if opened < 0 or closed < 0 or ")" in before[opened:] or "(" in after[:closed]:
        return None
    head, tail = before[:opened].rstrip(" "), after[closed + 1 :]
    if head and tail[:1].isalnum():
        tail = f" {tail}"
    return head, tail


def with_safe_evidence(analysis: schemas.Analysis) -> schemas.Analysis:
    """The analysis as it is published, whichever analyst wrote it (the rules, the LLM, an incident's
    analysis): each evidence line made safe by ``evidence_line``. Called where an analysis leaves the
    analyst, once, and nowhere else: an analyst builds its lines as they come."""
    lines = [evidence_line(line) for line in analysis.evidence]
    return analysis if lines == analysis.evidence else msgspec.structs.replace(analysis, evidence=lines)


def render(
    template: str, variables: dict[str, str], missing: list[str] | None = None, *, sentence: bool = False
) -> str:
    """``${name}`` or ``${name|default}``. A name with no value and no default reads as "the <name>"
    (never a raw placeholder in a message) and is recorded in ``missing`` for the catalogue's tests.
    An empty value takes its parentheses or its doubled space with it: "the disk (${volume|}) on" reads
    "the disk on", never "the disk () on". So does, in prose, a value that only names its variable (a
    label whose value is its own name, or a stand-in such as "the job"): "(job ${job|the job})" carries
    nothing then, and is left out rather than read "(job the job)".

    A value inside a code span stays as written unless it cannot be pasted safely; in prose it is made
    one line and bounded. As a ``sentence``, text that starts with a value introduces it by its kind
    (``${target}`` with ``${target_kind}``: "Pod payments/checkout-..."), so a name is never re-cased;
    any other lower-case start is capitalised."""
    head, placeholders = _pieces(template)
    out = [head]
    for name, default, text, in_code in placeholders:
        given = variables.get(name)
        if given and names_itself(name, given):
            given = None
        value = given or default
        if value is None:
            if missing is not None:
                missing.append(name)
            value = f"the {name.replace('_', ' ')}"
        if not value:
            if out[-1].endswith(" (") and text.startswith(")"):
                out[-1], text = out[-1][:-2], text[1:]
            elif out[-1].endswith(" ") and text.startswith(" "):
                text = text[1:]
        elif in_code:
            value = _for_code(value, name, default)
        elif not given and _stand_in(value, name) and (around := _without_parenthetical(out[-1], text)):
            (out[-1], text), value = around, ""
        else:
            value = _for_prose(value)
            if sentence and given and out == [""] and (kind := variables.get(f"{name}_kind")):
                value = f"{kind} {value}"
            elif ", " in value and (plural := _in_plural(out[-1], name)):
                out[-1] = plural
        out += (value, text)
    rendered = "".join(out).strip()
    if sentence and rendered[:1].islower():
        rendered = rendered[0].upper() + rendered[1:]
    return rendered


_FALLBACK_SUMMARY = "${alertname} on ${target}: no rule explains it"
_FALLBACK_ROOT_CAUSE = "Nothing in the alert or its evidence matches a known cause."
_FALLBACK = Rule(
    id="builtin-unknown",
    category="unknown",
    confidence=0.15,
    summary=_FALLBACK_SUMMARY,
    root_cause=_FALLBACK_ROOT_CAUSE,
    remediation=["Open the alert's generator URL and inspect the expression's recent values."],
)


def _names_read(rule: Rule) -> frozenset[str]:
    texts = [
        *(text for text in (rule.summary, rule.root_cause) if isinstance(text, str)),
        *(variant.text for variant in variants_of(rule)),
        *(template_of(step) for step in rule.remediation),
    ]
    named = {name for text in texts for name, *_ in _pieces(text)[1]}
    # A sentence starting with a value introduces it by its kind (``render``).
    named |= {f"{name}_kind" for name in list(named)}
    return frozenset(named | set(conditioned_on(rule)))


class Wording(NamedTuple):
    """A rule's templates for one alert: the variants and steps that apply to it."""

    summary: str
    root_cause: str
    remediation: tuple[str, ...]


# The wordings chosen, kept by the values they were chosen on: a flood's alerts of one alert rule share
# an expression and a platform, and choosing tests every step's patterns (two thirds of an analysis).
WORDINGS_KEPT = 4096


class RulesAnalyst:
    """``analyze`` is a pure function of the message; the state is an index of the catalogue, and the
    wordings chosen for the variables they depend on."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.signals = SignalReader(self.catalogue.signals)
        self.index = CandidateIndex(self.catalogue)
        self._conditioned_on: dict[str, tuple[str, ...]] = {}
        self._wordings: dict[tuple[str, ...], Wording] = {}
        self._reads: dict[str, frozenset[str]] = {}

    def reads(self, rule: Rule) -> frozenset[str]:
        """The variables the rule's templates name or its wording is conditioned on."""
        found = self._reads.get(rule.id)
        if found is None:
            found = self._reads[rule.id] = _names_read(rule)
        return found

    def wording(self, rule: Rule, variables: dict[str, str]) -> Wording:
        names = self._conditioned_on.get(rule.id)
        if names is None:
            names = self._conditioned_on[rule.id] = conditioned_on(rule)
        key = (rule.id, *(variables.get(name, "") for name in names))
        found = self._wordings.get(key)
        if found is None:
            if len(self._wordings) >= WORDINGS_KEPT:
                self._wordings.clear()
            found = self._wordings[key] = Wording(
                chosen(rule.summary, variables) or _FALLBACK_SUMMARY,
                chosen(rule.root_cause, variables) or _FALLBACK_ROOT_CAUSE,
                tuple(template_of(step) for step in rule.remediation if applies(step, variables)),
            )
        return found

    @classmethod
    def from_dir(cls, rules_dir: str = "") -> RulesAnalyst:
        return cls(load_catalogue(rules_dir))

    def matches(self, view: AlertView) -> list[tuple[Rule, Hit]]:
        """The deciding rule (the fallback when none holds) and the first cause-level rival: a
        rule of another category with priority >= RIVAL_PRIORITY that holds too. Rules below
        that priority cannot be rivals, so they are not tried once a rule has decided."""
        found: list[tuple[Rule, Hit]] = []
        for rule, blocks in self.index.candidates(view):
            if found:
                if rule.priority < RIVAL_PRIORITY:
                    break
                if rule.category == found[0][0].category:
                    continue
            hit = first_match(blocks, view)
            if hit is not None and not any(match(block, view) for block in rule.unless):
                found.append((rule, hit))
                if len(found) == 2:
                    break
        return found or [(_FALLBACK, Hit())]

    def verdict(self, message: schemas.EnrichedAlert) -> Verdict:
        alert = message.alert
        expr = expression_of(alert)
        return self.signals.read(alert.labels.get("alertname", ""), expr, alert.labels, alert.annotations)

    def analyze(self, message: schemas.EnrichedAlert) -> schemas.Analysis:
        verdict = self.verdict(message)
        view = view_of(message, verdict.category)
        basis = verdict.basis
        (rule, hit), *others = self.matches(view)
        # matches() returns at most one other rule: a cause-level rival of another category.
        rival = others[0][0] if others else None
        if hit.by_signals:
            # Judged from the alert's own words: the verdict's strength is the confidence.
            confidence = verdict.confidence - (RIVAL_PENALTY if rival else 0.0)
            hit.evidence.append(f"{basis}: {rule.category}")
        else:
            confidence = rule.confidence - (RIVAL_PENALTY if rival else 0.0)
            if not view.has_evidence:
                confidence -= NO_EVIDENCE_PENALTY
            if verdict.category not in ("unknown", rule.category) and rule.priority < RIVAL_PRIORITY:
                # A rule that knows the name, against words that point elsewhere.
                confidence -= RIVAL_PENALTY
                hit.evidence.append(f"but {basis}: {verdict.category}")
        if rival is not None:
            hit.evidence.append(f"also consistent with {rival.category} (rule {rival.id})")
        for block in rule.corroborate:
            extra = match(block, view)
            if extra is not None:
                hit.merge(extra)
                confidence += CORROBORATION_BONUS
        variables = {
            **view.variables(self.reads(rule)),
            "signal_says": verdict.says,
            "signal_basis": basis,
            "signal_symptoms": verdict.symptom_words,
            **hit.variables,
        }
        exported = is_exporter_job(hit.variables.get("series_job", ""))
        for key, value in hit.variables.items():
            # Labels of the series that matched fill in what the alert's own labels lack; but the job
            # and address of a series an exporter reported (kube-state-metrics, node-exporter) are
            # the exporter's, not the alerting service's: `{job="kube-state-metrics"}` in a query
            # of the service's requests would find nothing.
            label = key.removeprefix("series_")
            if key.startswith("series_") and not (exported and label in SCRAPE_TARGET_LABELS):
                variables.setdefault(label, value)
        evidence = hit.evidence[:MAX_EVIDENCE_LINES]
        if not view.has_evidence:
            evidence.append("no metric or log evidence was available; judged from the alert alone")
        # Lines as they came (label values, log samples): ``with_safe_evidence`` makes them safe where
        # the analysis is published, with any other analyst's.
        evidence += [f"enrichment {e.source} unavailable: {e.reason}" for e in view.errors[:3]]
        wording = self.wording(rule, variables)
        return schemas.Analysis(
            summary=render(wording.summary, variables),
            root_cause=render(wording.root_cause, variables, sentence=True),
            category=rule.category,
            confidence=round(min(MAX_CONFIDENCE, max(MIN_CONFIDENCE, confidence)), 2),
            evidence=evidence,
            remediation=[scoped_queries(render(step, variables), view.expr) for step in wording.remediation],
            analyzer="rules",
            model=f"rules:{rule.id}",
        )
