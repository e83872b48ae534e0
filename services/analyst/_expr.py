"""What an alerting rule's PromQL measures: its metric names, functions and selected label values.

Not a PromQL parser: the analyst only needs the words the expression is made of. Label names
(``by (instance)``), ranges (``[5m]``) and excluded values (``condition!="True"``) are dropped;
the values a selector asks for (``reason="OOMKilled"``) are kept, since they say what is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from services.analyst._words import metric_words, stem

_SELECTED_VALUE = re.compile(r"\b(\w+)\s*=~?\s*\"([^\"]*)\"")
_STRING = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(?:\s*\()?")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"inf", "nan", "time", "vector", "scalar"}
)
# Label names whose selected values describe the measured thing, not the target.
_MEANINGFUL_VALUES = frozenset(
    {"reason", "condition", "phase", "resource", "state", "status", "code", "type", "mode"}
)


# The quantile an expression reads: histogram_quantile's first argument, or a summary's `quantile` label.
_QUANTILE = re.compile(r"\bhistogram_quantile\s*\(\s*(0?\.\d+)\s*,|\bquantile\s*=\s*\"(0?\.\d+)\"")


@lru_cache(maxsize=1024)
def quantile_of(text: str) -> str:
    """The percentile the expression reads, as a reader says it ("99th percentile"); "" when none."""
    found = _QUANTILE.search(text)
    if found is None:
        return ""
    percent = f"{float(found[1] or found[2]) * 100:.6g}"
    last = int(percent[-1]) if percent.isdigit() else 0
    teen = percent.isdigit() and 10 <= int(percent) % 100 <= 13
    suffix = "th" if teen or last > 3 or "." in percent else ("th", "st", "nd", "rd")[last]
    return f"{percent}{suffix} percentile"


# A matcher selecting server errors by their status code (`code=~"5.."`, `status=~"5xx"`,
# `status_code=~"5\\d\\d"`, `code=~"500|502|503"`): its label is the one the alert's own series carry the
# code in, a label named for a code or a status (a `version=~"5.*"` is no status code).
_ERROR_CODE = re.compile(
    r'\b((?:[A-Za-z]\w*_)?(?:code|status)(?:_\w+)?)\s*=~?\s*"5(?:\.\.|xx|\.\*|\[|\\\\d|\d\d(?=["|]))[^"]*"'
)


def metric_before(text: str, brace: int) -> str:
    """The metric name the selector whose ``{`` is at ``brace`` follows ("" when it follows none: a
    selector of labels alone, or one after a keyword and a space such as ``unless {...}``)."""
    at = brace
    while at > 0 and (text[at - 1].isalnum() or text[at - 1] in "_:"):
        at -= 1
    return text[at:brace]


@lru_cache(maxsize=1024)
def error_selector_of(text: str) -> tuple[str, str]:
    """The metric and the label the expression selects server errors by
    (``("nginx_ingress_controller_requests", "status")``), so a step's query asks the series the alert
    reads; ``("", "")`` when it selects none."""
    found = _ERROR_CODE.search(text)
    if found is None:
        return "", ""
    brace = text.rfind("{", 0, found.start())
    inside = brace >= 0 and "}" not in text[brace : found.start()]
    return (metric_before(text, brace) if inside else ""), found[1]


@dataclass(frozen=True)
class Expression:
    text: str
    metrics: tuple[str, ...]
    functions: tuple[str, ...]
    values: tuple[str, ...]


@lru_cache(maxsize=4096)
def parse_expression(text: str) -> Expression:
    values = tuple(
        value
        for name, value in _SELECTED_VALUE.findall(text)
        if name.lower() in _MEANINGFUL_VALUES and value and not value.startswith(("$", "."))
    )
    bare = _LABEL_LIST.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub(" ", text))))
    metrics: list[str] = []
    functions: list[str] = []
    for found in _IDENT.findall(bare):
        name = found.rstrip("( \t\n")
        if name.lower() in _KEYWORDS:
            continue
        target = functions if found.endswith("(") else metrics
        if name not in target:
            target.append(name)
    return Expression(text=text, metrics=tuple(metrics), functions=tuple(functions), values=values)


# What the measured metric (the expression's first) is in: a time, or a share. A histogram's or a
# summary's `_count` counts its observations, whatever its name says they took.
# Stemmed as the metric's words are ("percentage" is read "percentag").
_DURATION_WORDS = frozenset(
    map(stem, ("second", "millisecond", "microsecond", "nanosecond", "ms", "ns", "duration", "latency"))
)
_RATIO_WORDS = frozenset(
    map(stem, ("ratio", "rate", "percent", "percentage", "pct", "burn", "budget", "slo", "sli", "apdex"))
)


@lru_cache(maxsize=1024)
def measures_of(text: str) -> str:
    """What the expression measures: "duration" (a time taken, or a latency objective's burn),
    "ratio" (a share or a burn rate), "count" (how many: slow queries, jobs not completed), or ""
    when it names no metric."""
    if _QUANTILE.search(text):
        return "duration"
    metrics = parse_expression(text).metrics
    if not metrics:
        return ""
    words = metric_words(metrics[0])
    if not _DURATION_WORDS.isdisjoint(words) and words[-1] != "count":
        return "duration"
    return "ratio" if not _RATIO_WORDS.isdisjoint(words) else "count"


@lru_cache(maxsize=1024)
def slow_events_of(text: str) -> str:
    """What the measured metric counts as slow, as its name says it ("slow queries" of
    `mysql_global_status_slow_queries`); "" when its name says nothing slow."""
    metrics = parse_expression(text).metrics
    words = metrics[0].lower().replace(":", "_").split("_") if metrics else []
    if "slow" not in words[:-1]:
        return ""
    said = words[words.index("slow") :]
    while said[-1] in ("total", "count", "sum", "current"):
        said.pop()
    return " ".join(said) if len(said) > 1 else ""


# The reason a selector asks for: `reason="OOMKilled"`, `reason=~"Evicted|Error"`.
_REASON = re.compile(r"\breason\s*=~?\s*\"([\w|]+)\"")


@lru_cache(maxsize=1024)
def reason_of(text: str) -> str:
    """The reason (or reasons, comma-separated) the expression selects; "" when none."""
    found = _REASON.search(text)
    return ", ".join(part for part in found[1].split("|") if part) if found else ""
