"""The query plan: which PromQL runs for one alert, decided from its labels alone.

Deterministic on purpose: the same alert always yields the same plan, so a plan can
be logged, read and reproduced, and identical queries across a storm hit the cache.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import msgspec

from schemas import Alert
from services.enricher._packs import QueryPack
from services.enricher._promql import inner_expr, quote_value

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Variables that hold PromQL, inserted as they are; every other one is a label value.
_EXPRESSIONS = ("alert_expr", "alert_inner_expr")


class PlannedQuery(msgspec.Struct, frozen=True):
    name: str
    expr: str
    exists: str
    pack: str


class Plan(msgspec.Struct, frozen=True):
    queries: list[PlannedQuery]
    # "pack/query: needs pod" for each query the alert lacked the labels for.
    skipped: list[str]

    def describe(self) -> str:
        lines = [
            f"{q.pack}/{q.name}: {q.expr}" + (f"  [if {q.exists}]" if q.exists else "") for q in self.queries
        ]
        return "; ".join(lines) if lines else "no queries"


def _variables(alert: Alert) -> dict[str, str]:
    variables = {name: quote_value(value)[1:-1] for name, value in alert.labels.items()}
    host = _url_host(alert.labels.get("instance", ""))
    if host:
        variables["instance_url_host"] = quote_value(host)[1:-1]
    expr = alert.rule_expression
    if expr:
        variables["alert_expr"] = expr
        inner = inner_expr(expr)
        if inner:
            variables["alert_inner_expr"] = inner
    return variables


def _url_host(instance: str) -> str:
    """The host of an ``instance`` that is a URL (a blackbox probe's target), lower-cased; "" otherwise."""
    if "://" not in instance:
        return ""
    try:
        return urlsplit(instance.strip()).hostname or ""
    except ValueError:  # a malformed URL names no host
        return ""


def _render(template: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    missing = [name for name in _PLACEHOLDER.findall(template) if name not in variables]
    if missing:
        return "", missing
    return _PLACEHOLDER.sub(lambda found: variables[found.group(1)], template), []


def build_plan(alert: Alert, packs: Sequence[QueryPack], max_queries: int) -> Plan:
    variables = _variables(alert)
    queries: list[PlannedQuery] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for pack in packs:
        if not pack.applies_to(alert.labels):
            continue
        for query in pack.queries:
            if any(name in variables for name in query.skip_if):
                continue
            expr, missing = _render(query.expr, variables)
            exists, missing_exists = _render(query.exists, variables)
            if missing or missing_exists:
                needs = sorted(set(missing + missing_exists) - set(_EXPRESSIONS))
                reason = f"needs {', '.join(needs)}" if needs else "the alert has no such expression"
                skipped.append(f"{pack.name}/{query.name}: {reason}")
                continue
            if expr in seen:
                continue
            if len(queries) >= max_queries:
                skipped.append(f"{pack.name}/{query.name}: over the limit of {max_queries} queries")
                continue
            seen.add(expr)
            queries.append(PlannedQuery(name=query.name, expr=expr, exists=exists, pack=pack.name))
    return Plan(queries=queries, skipped=skipped)
