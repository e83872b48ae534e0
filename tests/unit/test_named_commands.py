"""Every command the docs and comments tell a reader to run exists: ``aiops X``, ``just X``, ``python -m X``.

A renamed command leaves instructions behind that fail for whoever follows them; this finds them.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import _parser

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".example", ".conf"}
TEXT_NAMES = {"justfile", "run", "Dockerfile"}
# Our own packages: a ``python -m`` of anything else (pip, json.tool) is someone else's to keep.
OWN_PACKAGES = {"bench", "infra", "schemas", "services", "tests"}
# Named on purpose though they do not exist: the module a recipe tells the reader to create.
NOT_YET_WRITTEN = {"services.example"}

AIOPS = re.compile(r"(?:`|/)aiops ([a-z][a-z-]*)")
JUST = re.compile(r"`just ([a-z][a-z0-9-]*)")
PYTHON_M = re.compile(r"python -m ([a-z_]\w*(?:\.\w+)*)")
RECIPE = re.compile(r"^([a-z][a-z0-9-]*)(?: [^:=]*)?:(?!=)", re.M)


def _text_files() -> Iterator[Path]:
    for folder, subfolders, names in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS]
        for name in names:
            path = Path(folder) / name
            if path == Path(__file__).resolve():  # its examples below name commands that do not exist
                continue
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                yield path


@functools.cache
def _named(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    """Each name the pattern finds -> the files naming it."""
    found: dict[str, set[str]] = {}
    for path in _text_files():
        for match in pattern.finditer(path.read_text(errors="replace")):
            found.setdefault(match.group(1), set()).add(str(path.relative_to(REPO)))
    return found


def _aiops_commands() -> set[str]:
    actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name for action in actions for name in action.choices}


def test_the_scan_finds_commands_so_a_broken_pattern_cannot_pass_silently() -> None:
    assert {"up", "status", "dlq"} <= set(_named(AIOPS))
    assert {"test", "bench"} <= set(_named(JUST))
    assert "services.ingest" in _named(PYTHON_M)


def test_every_aiops_command_named_exists() -> None:
    commands = _aiops_commands()
    missing = {name: files for name, files in _named(AIOPS).items() if name not in commands}
    assert not missing, f"`aiops X` named but not an aiops command: {missing}"


def test_every_just_recipe_named_exists() -> None:
    recipes = set(RECIPE.findall((REPO / "justfile").read_text()))
    missing = {name: files for name, files in _named(JUST).items() if name not in recipes}
    assert not missing, f"`just X` named but not a recipe of the justfile: {missing}"


def test_every_python_module_named_exists() -> None:
    missing = {}
    for module, files in _named(PYTHON_M).items():
        if module.split(".")[0] not in OWN_PACKAGES or module in NOT_YET_WRITTEN:
            continue
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            missing[module] = files
    assert not missing, f"`python -m X` named but no such module: {missing}"


@pytest.mark.parametrize(
    ("text", "pattern", "name"),
    [
        ("run `aiops nats-config --dir x`", AIOPS, "nats-config"),
        ("{{ bin }}/aiops up", AIOPS, "up"),
        ("the aiops pipeline", AIOPS, None),
        ("with `just bench`", JUST, "bench"),
        ("just one message", JUST, None),
        ("``python -m services.runtime.export``", PYTHON_M, "services.runtime.export"),
    ],
)
def test_the_patterns_read_commands_and_not_prose(
    text: str, pattern: re.Pattern[str], name: str | None
) -> None:
    match = pattern.search(text)
    assert (match.group(1) if match else None) == name
