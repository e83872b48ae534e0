"""Whether a block of rule conditions holds for an alert, and what it found if so."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import schemas
from services.analyst._catalogue import Conditions, MetricCondition, pattern, text_pattern
from services.analyst._expr import measures_of
from services.analyst._literals import block_literals, may_match
from services.analyst._technology import technology_of
from services.analyst._view import AlertView, SeriesItem, TextItem, readable, series_labels, series_line
from services.analyst._words import contains_phrase, phrase_key

# The enricher's findings of a series that jumps rather than climbs.
_JUMPS = frozenset({schemas.SeriesEvent.SPIKE, schemas.SeriesEvent.LEVEL_SHIFT, schemas.SeriesEvent.STEP})


@dataclass
class Hit:
    """What a matching block contributes: template variables and evidence lines."""

    variables: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    # The block held because of the alert's own words (its signals), not a named condition.
    by_signals: bool = False

    def merge(self, other: Hit) -> None:
        for key, value in other.variables.items():
            self.variables.setdefault(key, value)
        self.evidence += [line for line in other.evidence if line not in self.evidence]


# What a "dependency" capture may not be: a time, a bare number, the kubelet or its probe.
_NOT_A_DEPENDENCY = re.compile(
    r"\d{1,4}([-:/.]\d{1,4})*(Z|[+-]\d\d:?\d\d)?|kubelet|kube-probe|localhost", re.I
)
_PROBE_LINE = re.compile(r"\b(?:liveness|readiness|startup) probe\b", re.I)


# Sentence punctuation after a name is the sentence's, not the name's: "Insufficient nvidia.com/gpu."
_TRAILING_PUNCTUATION = ".,;:!?"


def _captures(found: re.Match[str], view: AlertView, text: str) -> dict[str, str]:
    groups = found.groupdict().items()
    captured = {
        key: clean
        for key, value in groups
        if value and (clean := value.strip().rstrip(_TRAILING_PUNCTUATION))
    }
    dependency = captured.get("dependency", "")
    if dependency and (
        _NOT_A_DEPENDENCY.fullmatch(dependency)
        or dependency in (view.labels.get("namespace"), view.labels.get("pod"), view.labels.get("instance"))
        or _PROBE_LINE.search(text)  # the kubelet calling the pod is not the pod calling a dependency
    ):
        del captured["dependency"]
    return captured


def _search_texts(
    patterns: list[str], items: list[TextItem], joined: str, lowered: str | None, view: AlertView
) -> Hit | None:
    if not items:
        return None
    # Absent from the joined items means absent from each (the catalogue anchors no pattern), and
    # most blocks are absent: a substring test, else one search of one alternation, settles them.
    combined, literals = any_text(patterns)
    if not may_match(literals, lowered) or not combined.search(joined):
        return None
    for item in items:
        for one in patterns:
            found = text_pattern(one).search(item.text)
            if found is None:
                continue
            snippet = item.sample if item.kind == "log" else found.group(0)
            variables = {
                "log": snippet[:200] if item.kind == "log" else "",
                "log_count": str(item.repeats) if item.kind == "log" else "",
                "signature": _around(item.sample, found) if item.kind == "log" else found.group(0).strip(),
                "technology": technology_of(item.sample) if item.kind == "log" else "",
                **_later_captures(patterns, one, view, item.text),
                **_captures(found, view, item.text),
            }
            return Hit({k: v for k, v in variables.items() if v}, [item.line])
    return None


def _later_captures(patterns: list[str], first: str, view: AlertView, text: str) -> dict[str, str]:
    """What the block's other patterns name in the same line: the first pattern that matched may be
    a bare marker ("NameResolutionError") where a later one captures the host it failed for."""
    captured: dict[str, str] = {}
    for one in patterns[patterns.index(first) + 1 :]:
        if "(?P<" in one and (found := text_pattern(one).search(text)) is not None:
            captured = {**_captures(found, view, text), **captured}
    return captured


SIGNATURE_CHARS = 200


def _around(sample: str, found: re.Match[str]) -> str:
    """The log line around what matched, so the explanation quotes the host, key or file it names."""
    line = " ".join(sample.split())
    if len(line) <= SIGNATURE_CHARS:
        return line
    start = max(0, line.find(found.group(0).strip()[:40]) - 40)
    clipped = line[start : start + SIGNATURE_CHARS]
    return ("..." if start else "") + clipped + ("..." if start + SIGNATURE_CHARS < len(line) else "")


def _jumped(item: SeriesItem) -> bool:
    s = item.series
    if any(schemas.SeriesEvent.of(event) in _JUMPS for event in s.events):
        return True
    return s.change_pct is not None and s.change_pct >= 200


def series_holds(condition: MetricCondition, item: SeriesItem) -> bool:
    s = item.series
    checks = (
        condition.above is None or s.max >= condition.above,
        condition.below is None or s.min <= condition.below,
        condition.last_above is None or s.last >= condition.last_above,
        condition.last_below is None or s.last <= condition.last_below,
        condition.change_pct_above is None
        or (s.change_pct is not None and s.change_pct >= condition.change_pct_above),
        not condition.rising or (s.trend_per_min > 0 and (s.change_abs is None or s.change_abs > 0)),
        not condition.falling or (s.trend_per_min < 0 and (s.change_abs is None or s.change_abs < 0)),
        not condition.spike or _jumped(item),
        not condition.changed or bool(s.events) or bool(s.change_abs) or s.min != s.max,
    )
    if not all(checks):
        return False
    return all(
        pattern(label_pattern).fullmatch(s.labels.get(name, "")) is not None
        for name, label_pattern in condition.labels.items()
    )


def _metric_hit(condition: MetricCondition, view: AlertView) -> Hit | None:
    wanted = pattern(condition.match)
    unwanted = pattern(condition.exclude) if condition.exclude else None
    for item in view.series:
        if unwanted is not None and unwanted.search(item.haystack):
            continue
        if wanted.search(item.haystack) and series_holds(condition, item):
            unit = item.unit
            variables = {
                "metric": item.metric.name,
                "series": f"{{{series_labels(item.series.labels)}}}" if item.series.labels else "",
                "value": schemas.quantity(item.series.last, unit),
                "peak": schemas.quantity(item.series.max, unit),
                "low": schemas.quantity(item.series.min, unit),
                "change_pct": f"{item.series.change_pct:+.0f}%" if item.series.change_pct is not None else "",
                **{f"series_{k}": v for k, v in item.series.labels.items()},
            }
            return Hit({k: v for k, v in variables.items() if v}, [series_line(item)])
    return None


_ANY_NAME: dict[int, tuple[list[str], re.Pattern[str]]] = {}


def any_name(patterns: list[str]) -> re.Pattern[str]:
    """One compiled alternation per block's alertname list (kept alive with it, so ids stay unique)."""
    cached = _ANY_NAME.get(id(patterns))
    if cached is None:
        combined = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
        cached = _ANY_NAME[id(patterns)] = (patterns, combined)
    return cached[1]


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")
_ANY_TEXT: dict[int, tuple[list[str], re.Pattern[str], frozenset[str] | None]] = {}


def any_text(patterns: list[str]) -> tuple[re.Pattern[str], frozenset[str] | None]:
    """One alternation of a block's text patterns (group names dropped: they may repeat across
    patterns), and the literals one of which any match contains."""
    cached = _ANY_TEXT.get(id(patterns))
    if cached is None:
        # Unbounded on purpose: a whole-word match is also a match without the boundaries, and
        # the plain alternation keeps the regex engine's literal optimisations (4x faster).
        combined = "|".join(f"(?:{_NAMED_GROUP.sub('(?:', p)})" for p in patterns)
        literals = block_literals(tuple(patterns))
        cached = _ANY_TEXT[id(patterns)] = (patterns, re.compile(combined, re.IGNORECASE), literals)
    return cached[1], cached[2]


@lru_cache(maxsize=1024)
def _phrases(names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(phrase_key(name) for name in names)


def name_holds(block: Conditions, alertname: str, name_words: tuple[str, ...]) -> bool:
    """The block's conditions on the alert's name alone (the same for every alert of that name)."""
    if block.alertname and not any_name(block.alertname).fullmatch(alertname):
        return False
    return not block.name or contains_phrase(name_words, _phrases(tuple(block.name)))


def _alert_line(view: AlertView) -> Hit:
    severity = view.labels.get("severity", "")
    summary = readable(view.annotations.get("summary") or view.annotations.get("description", ""))
    summary = summary if len(summary) <= 300 else summary[:297] + "..."
    line = f"alert {view.alertname}" + (f" ({severity})" if severity else "")
    return Hit({}, [f"{line}: {summary}" if summary else line])


def match(block: Conditions, view: AlertView) -> Hit | None:
    """Every key given in the block must hold; an empty block always holds (the fallback)."""
    # Texts first: they rule out most blocks, and most cheaply.
    in_logs = in_texts = None
    if block.logs:
        in_logs = _search_texts(block.logs, view.logs, view.logs_joined, view.logs_lowered, view)
        if in_logs is None:
            return None
    if block.text:
        in_texts = _search_texts(block.text, view.texts, view.texts_joined, view.texts_lowered, view)
        if in_texts is None:
            return None
    named = None
    if block.alertname or block.name:
        if not name_holds(block, view.alertname, view.name_words):
            return None
        named = _alert_line(view)
    if block.signals is not None:
        if view.signal_category != block.signals:
            return None
        named = named or _alert_line(view)
        named.by_signals = True
    for name, label_pattern in block.labels.items():
        if pattern(label_pattern).fullmatch(view.labels.get(name, "")) is None:
            return None
    if block.measures and pattern(block.measures).fullmatch(measures_of(view.expr)) is None:
        return None
    hit = named or Hit()
    for found in (in_logs, in_texts):
        if found is not None:
            hit.merge(found)
    for condition in block.metrics:
        found = _metric_hit(condition, view)
        if found is None:
            return None
        hit.merge(found)
    return hit


def first_match(blocks: list[Conditions], view: AlertView) -> Hit | None:
    for block in blocks:
        found = match(block, view)
        if found is not None:
            return found
    return None
