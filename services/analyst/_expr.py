"""What an alerting rule's PromQL measures: its metric names, functions and selected label values.

Not a PromQL parser: the analyst only needs the words the expression is made of. Label names
(``by (instance)``), ranges (``[5m]``) and excluded values (``condition!="True"``) are dropped;
the values a selector asks for (``reason="OOMKilled"``) are kept, since they say what is counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
