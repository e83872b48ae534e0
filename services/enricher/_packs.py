"""Query packs: YAML files that say which PromQL to run for which alerts.

A pack applies when the alert's ``alertname`` fully matches ``when.alertname`` (a regex),
every label in ``when.labels`` is present, and every ``when.match`` label fully matches
its regex. Queries use ``${label}`` for the alert's label values (quoted for PromQL by
the planner) and ``${alert_expr}`` / ``${alert_inner_expr}`` for the alert's own
expression. The built-in plan is itself a pack (``infra/enrichment/builtin.yaml``).

``ENRICHMENT_PACKS_DIR`` adds a folder of packs to the built-in ones, as ``RULES_DIR`` does rules: a
pack with a built-in pack's name replaces it in its place, ``disabled: true`` removes it.
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
    queries: list[PackQuery] = []
    # In a folder of one's own: removes the built-in pack of this name.
    disabled: bool = False

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
        if not pack.disabled and not pack.queries:
            raise PackError(f"{origin}: pack {pack.name!r} has no queries (`disabled: true` removes a pack)")
    return packs


def load_packs(directory: Path | None = None) -> list[QueryPack]:
    """The built-in packs, then ``directory``'s ``*.yaml`` in file-name order: a pack named as an
    earlier one replaces it in its place, a disabled one removes it."""
    by_name: dict[str, QueryPack] = {}
    for folder in pack_folders(directory):
        for path in _pack_files(folder):
            for pack in parse_packs(path.read_text(encoding="utf-8"), str(path)):
                by_name[pack.name] = pack
    return [pack for pack in by_name.values() if not pack.disabled]


def pack_folders(directory: Path | None = None) -> list[Path]:
    """Where ``load_packs`` reads, in order. An install without the built-in folder beside the code
    (the image puts it there: infra/Dockerfile) reads ``directory`` alone."""
    folders = [BUILTIN_DIR] if BUILTIN_DIR.is_dir() or directory is None else []
    if directory is not None and not (BUILTIN_DIR.is_dir() and directory.resolve() == BUILTIN_DIR):
        folders.append(directory)
    return folders


def _pack_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise PackError(
            f"query pack directory {folder} does not exist; set ENRICHMENT_PACKS_DIR to a folder of packs "
            "(the repository's infra/enrichment holds the built-in one)"
        )
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
