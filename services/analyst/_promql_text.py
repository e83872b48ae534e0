"""Queries in remediation steps that run as written when pasted into Prometheus.

A template writes ``{instance="${instance}",mountpoint="${volume|<mountpoint>}"}``; when the alert
names no mountpoint the matcher ``mountpoint="<mountpoint>"`` matches no series, and the query the
person pastes returns nothing. A stand-in is first filled from the alert's own expression: the value
its selector of the same metric asks for (``up{job="kubelet"}`` fills ``up{job="<job>"}``), else the
one value the whole expression asks for that label, so the query reads the series the alert read.
What is left on a stand-in is dropped when another matcher still names what the alert is about; a
query with nothing else to scope it keeps its stand-in, so it asks to be filled in instead of
answering for every target at once.
"""

from __future__ import annotations

import re
from functools import lru_cache

from services.analyst._expr import metric_before
from services.analyst._view import is_exporter_job

# One code span of a step; the selectors inside it; one matcher of a selector.
_CODE = re.compile(r"`[^`]*`")
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*[A-Za-z_]\w*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')
_STAND_IN = re.compile(r'"<[^<>"]+>"\s*$')
_NAMING = re.compile(r'^\s*[A-Za-z_]\w*\s*=\s*"(?!<)[^"]+"\s*$')
_STAND_IN_MATCHER = re.compile(r'^\s*([A-Za-z_]\w*)\s*=\s*"<[^<>"]+>"\s*$')
# A matcher of the expression that selects one value: `=`, or `=~` on a value no regex reads
# differently. Its value is pasted as it was written in the expression.
_SELECTING = re.compile(r'([A-Za-z_]\w*)\s*(=~|=)\s*"([^"\\$<>{}]*)"')
# A regex value read as written only when a dot in it joins two names (a host, an address): "sd." and
# "api-.." are patterns, pasted as an exact value they select nothing.
_LITERAL = re.compile(r"[\w:-]*\w[\w:-]*(?:\.\w[\w:-]*)*")

Matchers = dict[str, str]


@lru_cache(maxsize=1024)
def _selected(expr: str) -> tuple[dict[str, Matchers], Matchers, frozenset[str]]:
    """What the expression's selectors ask for: per metric, the label values each selects; for the
    whole expression, each label that is given one value only; and every label it selects a value of."""
    by_metric: dict[str, Matchers] = {}
    seen: dict[str, set[str]] = {}
    for found in _SELECTOR.finditer(expr):
        metric = metric_before(expr, found.start())
        for label, op, value in _SELECTING.findall(found.group(1)):
            if op == "=~" and not _LITERAL.fullmatch(value):
                continue
            if value and metric:
                by_metric.setdefault(metric, {}).setdefault(label, value)
            seen.setdefault(label, set()).add(value)
    whole: Matchers = {}
    for label, values in seen.items():
        value = min(values)
        # An exporter's job names the exporter (kube-state-metrics, node-exporter), not the service
        # another metric's query is about: only the exporter's own metrics are filled with it.
        if len(values) == 1 and value and not (label == "job" and is_exporter_job(value)):
            whole[label] = value
    return by_metric, whole, frozenset(seen)


def _filled(found: re.Match[str], matchers: list[str], expr: str) -> list[str]:
    """The matchers with each stand-in the expression gives a value for filled with that value."""
    by_metric, whole, labels = _selected(expr)
    out = matchers
    for at, matcher in enumerate(matchers):
        stand_in = _STAND_IN_MATCHER.match(matcher) if '"<' in matcher else None
        if stand_in is None or (label := stand_in.group(1)) not in labels:
            continue
        own = by_metric.get(metric_before(found.string, found.start()), {})
        if value := own.get(label) or whole.get(label):
            out = out if out is not matchers else list(matchers)
            out[at] = f'{label}="{value}"'
    return out


def _scoped(found: re.Match[str], expr: str) -> str:
    body = found.group(1)
    matchers = _MATCHER.findall(body)
    if not matchers or "".join(matchers).replace(",", "") != body.replace(",", ""):
        return found.group(0)  # not a plain list of matchers (a jsonpath, an awk program): as written
    filled = _filled(found, matchers, expr) if expr else matchers
    kept = [m.strip() for m in filled if not _STAND_IN.search(m)]
    if len(kept) == len(filled) or not any(_NAMING.match(m) for m in kept):
        if filled is matchers:
            return found.group(0)
        kept = [m.strip() for m in filled]
    return "{" + ",".join(kept) + "}"


def scoped_queries(step: str, expr: str = "") -> str:
    """The step with the stand-ins of its queries filled from the alert's expression ``expr`` where it
    gives a value, and those left dropped where another matcher names the target."""
    if '"<' not in step:
        return step
    return _CODE.sub(lambda code: _SELECTOR.sub(lambda found: _scoped(found, expr), code.group(0)), step)
