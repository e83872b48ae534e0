"""services/compiled.py: a build of correlation and the rules analysis is used only while it matches the
sources, and only whole."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from services import compiled


def _sources(root: Path) -> None:
    (root / "services" / "incidents").mkdir(parents=True)
    (root / "schemas").mkdir()
    (root / "services" / "incidents" / "_score.py").write_text("WEIGHT = 1.0\n")
    (root / "schemas" / "_messages.py").write_text("VERSION = 1\n")


def _build(root: Path, target: Path, digest: str, missing: str = "") -> None:
    modules = {}
    for name in (*compiled.COMPILED, compiled.GROUP + "__mypyc"):
        relative = f"b/{name}.so"
        if name != missing:
            (target / "b").mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(b"\x7fELF")
        modules[name] = relative
    (target / compiled.MANIFEST).write_bytes(orjson.dumps({"digest": digest, "modules": modules}))


def test_a_build_of_todays_sources_names_a_file_for_every_compiled_module(tmp_path: Path) -> None:
    root, target = tmp_path / "src", tmp_path / "build"
    _sources(root)
    _build(root, target, compiled.digest(root))

    files = compiled.usable(target, root)

    assert isinstance(files, dict)
    assert set(compiled.COMPILED) <= set(files)
    assert all(file.is_file() for file in files.values())


def test_an_edit_to_any_source_makes_the_build_stale(tmp_path: Path) -> None:
    root, target = tmp_path / "src", tmp_path / "build"
    _sources(root)
    _build(root, target, compiled.digest(root))

    (root / "schemas" / "_messages.py").write_text("VERSION = 2\n")

    stale = compiled.usable(target, root)

    assert stale == "the build does not match the sources: python -m services.compiled"


def test_a_missing_or_partial_build_runs_interpreted_and_says_how_to_build_it(tmp_path: Path) -> None:
    root, target = tmp_path / "src", tmp_path / "build"
    _sources(root)
    target.mkdir()
    assert compiled.usable(target, root) == "not built: python -m services.compiled"

    _build(root, target, compiled.digest(root), missing="services.incidents._score")
    assert "incomplete" in str(compiled.usable(target, root))


def test_without_a_c_compiler_the_build_says_so_and_leaves_correlation_interpreted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")

    said = compiled.build(tmp_path / "build")

    assert said == f"{compiled.WHAT}: interpreted (no C compiler: install gcc to compile it)"
    assert not (tmp_path / "build" / compiled.MANIFEST).exists()


def test_a_build_missing_a_library_is_made_again_not_taken_for_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target = tmp_path / "src", tmp_path / "build"
    _sources(root)
    _build(root, target, compiled.digest(root))
    assert compiled.build(target, root) == f"{compiled.WHAT}: compiled, up to date ({target})"

    (target / "b" / "services.incidents._score.so").unlink()
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")

    # it tries to build again (and here finds no compiler) rather than saying the build is fine
    said = compiled.build(target, root)
    assert said == f"{compiled.WHAT}: interpreted (no C compiler: install gcc to compile it)"
