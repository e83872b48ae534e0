"""The rules catalogue as data: YAML files users extend without code.

    rules:
      - id: oom-killed                  # unique; a user file with the same id replaces the built-in rule
        category: memory_pressure       # one of schemas.CATEGORIES: the cause, not the symptom
        priority: 90                    # the matching rule with the highest priority wins
        confidence: 0.85                # base confidence; corroborations raise it
        when: [{text: ["OOMKilled"]}]   # any block matches; inside a block every key must hold
        unless: [{alertname: [".*Down"]}]
        corroborate: [{alertname: ["KubePodCrashLooping"]}]
        summary / root_cause / remediation: templates with ${label}, ${target}, ${log}, ${value}, ...
        remediation: ["always", {step: "`kubectl ...`", when: {platform: kubernetes}}]
        root_cause: [{text: "...swap...", when: {expr: '.*node_memory_Swap.*'}}, {text: "otherwise"}]

The built-in files live next to this module in ``catalogue/``; ``RULES_DIR`` adds a directory
whose rules override built-in ones by id (``disabled: true`` removes one).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml

from schemas import Category
from services.runtime import ConfigError

Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class MetricCondition(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Holds when one series whose metric name or query matches ``match`` passes every test given."""

    match: str
    # Series whose name or query matches this are skipped (e.g. latency histograms of a request metric).
    exclude: str = ""
    labels: dict[str, str] = {}
    above: float | None = None
    below: float | None = None
    last_above: float | None = None
    last_below: float | None = None
    change_pct_above: float | None = None
    # A steady climb (trend up, no sudden jump) versus a spike or level shift.
    rising: bool = False
    falling: bool = False
    spike: bool = False
    changed: bool = False


class Conditions(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One block of conditions; every key given must hold, any pattern of a key suffices."""

    # Full, case-insensitive match of the alertname label.
    alertname: list[str] = []
    # Phrases found as whole words in the alert's name ("out of memory" in HostOutOfMemory).
    name: list[str] = []
    # Holds when the words of the alert (name, expression, annotations) point at this category.
    signals: Category | None = None
    # Full match of what the alert's expression measures: duration, ratio or count ("" without one).
    measures: str = ""
    labels: dict[str, str] = {}
    # Searched in log templates and samples, annotations and metric series labels.
    text: list[str] = []
    # Searched in log templates and samples only.
    logs: list[str] = []
    metrics: list[MetricCondition] = []


class Conditioned(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Given only where it can apply: every variable in ``when`` fully matches its pattern and none in
    ``unless`` does (a variable the alert lacks is "")."""

    when: dict[str, str] = {}
    unless: dict[str, str] = {}


class Step(Conditioned, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A remediation step under conditions. A plain string is a step that always applies."""

    step: str


class Variant(Conditioned, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One wording of a summary or root cause: a rule's text says what the alert's expression
    measures, not only what its name suggests."""

    text: str


# A summary or root cause: one template, or variants of which the first that applies is used; the
# last has no conditions, so one always does.
Text = str | list[Variant]


class Rule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    id: str
    category: Category = "unknown"
    priority: int = 0
    confidence: Confidence = 0.5
    when: list[Conditions] = []
    unless: list[Conditions] = []
    corroborate: list[Conditions] = []
    summary: Text = ""
    root_cause: Text = ""
    remediation: list[str | Step] = []
    disabled: bool = False


class Signal(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Words that point at a cause class wherever the alert says them.

    ``words`` are phrases matched on word boundaries in the alert's name, the metric names of its
    expression and its annotations; ``metrics`` whole metric or function names of the expression
    (``up``, ``absent``); ``labels`` label names the alert carries (``mountpoint``). A signal of
    category ``unknown`` names a symptom: it claims its words and adds weight to no cause.
    """

    category: Category
    weight: Annotated[float, msgspec.Meta(ge=0.0, le=3.0)] = 1.0
    words: list[str] = []
    metrics: list[str] = []
    labels: list[str] = []
    # Where ``words`` count: any of name, expr, summary, description (all when empty).
    fields: list[Literal["name", "expr", "summary", "description"]] = []
    # How an explanation says it: "runs out of memory".
    says: str = ""


class CatalogueFile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    rules: list[Rule] = []
    signals: list[Signal] = []


class Catalogue(msgspec.Struct, kw_only=True, frozen=True):
    """Rules in decision order: highest priority first, file order among equals."""

    rules: list[Rule]
    sources: list[str]
    signals: list[Signal] = []


@cache
def pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


def bounded(text: str) -> str:
    """A text pattern that matches whole words only: "OOM" not inside "TooMany", "429" not in "14290"."""
    return rf"(?<![A-Za-z0-9])(?:{text})(?![A-Za-z0-9])"


def text_pattern(text: str) -> re.Pattern[str]:
    return pattern(bounded(text))


def template_of(step: str | Step) -> str:
    return step if isinstance(step, str) else step.step


@cache
def _variable_pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE | re.DOTALL)


def applies(step: str | Conditioned, variables: dict[str, str]) -> bool:
    """Whether a step or a variant fits what the alert's variables say (its platform, the technology
    the evidence names, what the expression measures)."""
    if isinstance(step, str):
        return True

    def holds(name: str, text: str) -> bool:
        return _variable_pattern(text).fullmatch(variables.get(name, "")) is not None

    return all(holds(*item) for item in step.when.items()) and not any(
        holds(*item) for item in step.unless.items()
    )


def chosen(text: Text, variables: dict[str, str]) -> str:
    """The template of a summary or root cause for this alert: the first variant that applies."""
    if isinstance(text, str):
        return text
    return next((variant.text for variant in text if applies(variant, variables)), "")


def conditioned_on(rule: Rule) -> tuple[str, ...]:
    """The variables the rule's wording depends on: those its variants and steps are conditioned on."""
    conditioned: list[Conditioned] = [
        *(step for step in rule.remediation if not isinstance(step, str)),
        *variants_of(rule),
    ]
    return tuple(sorted({name for item in conditioned for name in (*item.when, *item.unless)}))


def variants_of(rule: Rule) -> list[Variant]:
    texts = (rule.summary, rule.root_cause)
    return [variant for text in texts if not isinstance(text, str) for variant in text]


def _patterns(rule: Rule) -> list[str]:
    found: list[str] = []
    for step in [*rule.remediation, *variants_of(rule)]:
        if not isinstance(step, str):
            found += [*step.when.values(), *step.unless.values()]
    for block in (*rule.when, *rule.unless, *rule.corroborate):
        found += block.alertname + block.text + block.logs + list(block.labels.values())
        found += [block.measures] if block.measures else []
        for metric in block.metrics:
            found += [metric.match, metric.exclude, *metric.labels.values()]
    return found


_RULE_AT = re.compile(r"\$\.rules\[(\d+)\]")


def _rule_named(data: object, error: str) -> str:
    """Where a validation error is, by the rule's id rather than its index: "rule 'x': ..."."""
    found = _RULE_AT.search(error)
    rules = data.get("rules") if isinstance(data, dict) else None
    if found is None or not isinstance(rules, list) or int(found[1]) >= len(rules):
        return error
    rule = rules[int(found[1])]
    name = rule.get("id") if isinstance(rule, dict) else None
    return f"rule {name!r}: {error}" if isinstance(name, str) else error


def _unconditional_last(rule: Rule) -> str:
    """What is wrong with the rule's variants: none given, or a last one that may not apply."""
    for field, text in (("summary", rule.summary), ("root_cause", rule.root_cause)):
        if isinstance(text, str):
            continue
        if not text:
            return f"{field} has an empty list of variants"
        if text[-1].when or text[-1].unless:
            return f"the last variant of {field} must have no 'when' or 'unless', so that one always applies"
    return ""


def _parse(text: str, origin: str) -> CatalogueFile:
    data: object = None
    try:
        data = yaml.safe_load(text) or {}
        parsed = msgspec.convert(data, CatalogueFile)
        rules = parsed.rules
    except yaml.YAMLError as exc:
        raise ConfigError(f"rules file {origin}: not valid YAML: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ConfigError(f"rules file {origin}: {_rule_named(data, str(exc))}") from exc
    for rule in rules:
        if not rule.disabled and not rule.when:
            raise ConfigError(f"rules file {origin}: rule {rule.id!r} has no 'when' block")
        problem = _unconditional_last(rule)
        if problem:
            raise ConfigError(f"rules file {origin}: rule {rule.id!r}: {problem}")
        for one in _patterns(rule):
            try:
                pattern(one)
            except re.error as exc:
                raise ConfigError(f"rules file {origin}: rule {rule.id!r}: bad regex {one!r}: {exc}") from exc
    return parsed


def builtin_files() -> list[tuple[str, str]]:
    folder = resources.files("services.analyst") / "catalogue"
    files = sorted((item for item in folder.iterdir() if item.name.endswith((".yaml", ".yml"))), key=str)
    return [(f"builtin:{item.name}", item.read_text(encoding="utf-8")) for item in files]


def user_files(directory: str) -> list[tuple[str, str]]:
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"RULES_DIR {directory!r} is not a directory")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return [(str(path), path.read_text(encoding="utf-8")) for path in files]


def load_catalogue(rules_dir: str = "") -> Catalogue:
    """Built-in rules, then the user's: a later rule with the same id replaces the earlier one."""
    files = builtin_files() + (user_files(rules_dir) if rules_dir else [])
    by_id: dict[str, Rule] = {}
    signals: list[Signal] = []
    for origin, text in files:
        parsed = _parse(text, origin)
        signals += parsed.signals
        for rule in parsed.rules:
            by_id.pop(rule.id, None)
            by_id[rule.id] = rule
    active = [rule for rule in by_id.values() if not rule.disabled]
    ordered = sorted(active, key=lambda rule: -rule.priority)
    return Catalogue(rules=ordered, sources=[origin for origin, _ in files], signals=signals)
