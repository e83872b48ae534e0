"""Query packs: YAML files that say which PromQL to run for which alerts.

A pack applies when the alert's ``alertname`` fully matches ``when.alertname`` (a regex),
every label in ``when.labels`` is present, and every ``when.match`` label fully matches
its regex. Queries use ``${label}`` for the alert's label values (quoted for PromQL by
the planner) and ``${alert_expr}`` / ``${alert_inner_expr}`` for the alert's own
expression. The built-in plan is itself a pack (``infra/enrichment/builtin.yaml``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from services.enricher._errors import PackError

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "infra" / "enrichment"


class PackQuery(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    expr: str
    # A cheap selector whose series must exist in the window before the range query runs.
    exists: str = ""
    # Variables whose presence makes this query redundant (e.g. the thresholded expression
    # when the series behind the threshold can be queried instead).
    skip_if: list[str] = []


class PackCondition(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    alertname: str = ".*"
    labels: list[str] = []
    match: dict[str, str] = {}


class QueryPack(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    when: PackCondition = PackCondition()
    queries: list[PackQuery]

    def applies_to(self, labels: dict[str, str]) -> bool:
        if not re.fullmatch(self.when.alertname, labels.get("alertname", "")):
            return False
        if any(name not in labels for name in self.when.labels):
            return False
        return all(re.fullmatch(pattern, labels.get(name, "")) for name, pattern in self.when.match.items())


class _PackFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    packs: list[QueryPack]


def parse_packs(text: str, origin: str) -> list[QueryPack]:
    try:
        data: Any = yaml.safe_load(text)
        packs = msgspec.convert(data, _PackFile).packs
    except yaml.YAMLError as exc:
        raise PackError(f"{origin}: not valid YAML ({exc})") from exc
    except msgspec.ValidationError as exc:
        raise PackError(f"{origin}: {exc}") from exc
    for pack in packs:
        patterns = [pack.when.alertname, *pack.when.match.values()]
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise PackError(f"{origin}: pack {pack.name!r} has a bad regex {pattern!r}: {exc}") from exc
    return packs


def load_packs(directory: Path | None = None) -> list[QueryPack]:
    """Every ``*.yaml`` pack in ``directory`` (the built-in one when None), in file-name order."""
    folder = directory or BUILTIN_DIR
    if not folder.is_dir():
        raise PackError(
            f"query pack directory {folder} does not exist; set ENRICHMENT_PACKS_DIR to a folder of packs "
            "(the repository's infra/enrichment holds the built-in one)"
        )
    packs: list[QueryPack] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        packs.extend(parse_packs(path.read_text(encoding="utf-8"), str(path)))
    return packs
