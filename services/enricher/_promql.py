"""The PromQL of an alert's rule (``Alert.rule_expression``): the series behind its threshold."""

from __future__ import annotations

import re
from collections.abc import Mapping

_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)(\s*bool\b)?")
_SET_OPERATOR = re.compile(r"\s(and|or|unless)\s", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Inf|NaN)$", re.IGNORECASE)


def _top_level_spans(expr: str) -> list[tuple[int, int]]:
    """Spans of ``expr`` at nesting depth 0 outside string literals."""
    spans: list[tuple[int, int]] = []
    depth = 0
    quote = ""
    start = 0
    for index, char in enumerate(expr):
        if quote:
            if char == quote and expr[index - 1] != "\\":
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            if depth == 0:
                spans.append((start, index))
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                start = index + 1
    if depth == 0:
        spans.append((start, len(expr)))
    return spans


def _split_top_level(expr: str, pattern: re.Pattern[str]) -> tuple[str, str, str] | None:
    for start, end in _top_level_spans(expr):
        found = pattern.search(expr, start, end)
        if found:
            return expr[: found.start()].strip(), found.group(0).strip(), expr[found.end() :].strip()
    return None


def inner_expr(expr: str) -> str | None:
    """The series behind a threshold: ``x > 0.9`` → ``x``; None when there is no threshold to strip.

    Only a comparison against a number literal is stripped; ``a > b`` compares two series
    and both matter, so it stays as it is. A trailing ``and``/``unless`` clause is dropped
    first because it filters series, it does not produce the values.
    """
    # Rules are often written wrapped whole, ``(a / b < .10)``: the comparison is inside. Peel
    # parentheses, filters and thresholds until nothing changes: ``(x > 1 and y) == 0`` → ``x``.
    whole = _strip_outer_parens(expr.strip())
    candidate, before = whole, ""
    while candidate != before:
        before = candidate
        set_split = _split_top_level(candidate, _SET_OPERATOR)
        if set_split and set_split[0]:
            candidate = _strip_outer_parens(set_split[0])
        comparison = _split_top_level(candidate, _COMPARISON)
        if comparison:
            left, _, right = comparison
            if _NUMBER.match(right) and left:
                candidate = _strip_outer_parens(left)
            elif _NUMBER.match(left) and right:
                candidate = _strip_outer_parens(right)
    return candidate if candidate and candidate != whole else None


def _strip_outer_parens(expr: str) -> str:
    while expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]):
        expr = expr[1:-1].strip()
    return expr


def _balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += char in "([{"
        depth -= char in ")]}"
        if depth < 0:
            return False
    return depth == 0


def quote_value(value: str) -> str:
    """A label value as a PromQL/LogQL double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def selector(labels: Mapping[str, str]) -> str:
    """``{a="x", b="y"}`` for exact label matches, sorted so the text is deterministic."""
    return "{" + ", ".join(f"{name}={quote_value(labels[name])}" for name in sorted(labels)) + "}"
