"""Correlation and the rules analysis compiled to C with mypyc, or the same modules interpreted: one
switch, never half of each.

Placing an alert (its footprint, then a score against every open incident) and the rules' explanation of it
run once per alert in the analyst's loop, and they are most of the analyst's own work in a flood. Those
modules are typed, so mypyc (mypy's compiler; mypy is already the type checker here) turns them into C
extensions doing the same work in about two thirds of the time (the rules analysis: 25-26 µs an alert
interpreted, 17 compiled, ``python -m bench.incident_work``). Nothing else changes: the sources stay the
truth, a build is used only while it matches them, and tests/integration/test_compiled.py holds every
decision and every explanation of the compiled build to the interpreted one's.

``python -m services.compiled`` builds them (every ``just`` recipe does, through ``just venv``; so does
the container image) into ``<venv>/aiops-compiled``: outside the checkout, tied to the interpreter that
built it, a no-op while up to date. Without mypyc, setuptools or a C compiler it says so and exits 0.
``install`` (called by ``services.incidents`` and ``services.analyst`` before they import them) serves
the modules from the build when its manifest names the digest of today's sources; a stale or missing
build, or ``AIOPS_COMPILED=0``, leaves all of them interpreted: compiled modules call one another
natively, so a mix is never loaded. This module imports nothing of the project, so checking a build
costs no more than reading the sources.

What a compiled module may define: mypyc keeps a class's annotations only as runtime classes
(``list[IndexEntry]`` becomes ``list``), and msgspec decodes by annotations, so a Struct that is ever
decoded lives in an interpreted module (the index, ``_index``, is read back from the key-value store; the
rules' catalogue, ``services.analyst._catalogue``, is read from YAML); and it drops a class statement's
keywords, so a compiled Struct takes ``frozen`` from ``services.incidents._frozen``. An interpreted class
cannot subclass a compiled one.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import orjson

COMPILED = (
    "services.incidents._kinds",
    "services.incidents._technology",
    "services.incidents._topology",
    "services.incidents._labels",
    "services.incidents._evidence",
    "services.incidents._pod_evidence",
    "services.incidents._causes",
    "services.incidents._footprint",
    "services.incidents._names",
    "services.incidents._score",
    "services.incidents._open",
    "services.incidents._correlate",
    "services.analyst._words",
    "services.analyst._expr",
    "services.analyst._literals",
    "services.analyst._technology",
    "services.analyst._promql_text",
    "services.analyst._view",
    "services.analyst._signals",
    "services.analyst._match",
    "services.analyst._candidates",
    "services.analyst._rules",
)
# The C library the modules above share; its name is a top-level module's, so it must not collide.
GROUP = "aiops_compiled"
TARGET = Path(sys.prefix) / "aiops-compiled"
SWITCH = "AIOPS_COMPILED"
WHAT = "correlation and rules analysis"  # how messages name the modules above
ROOT = Path(__file__).resolve().parents[1]
# What the compiled code was typed against: a change to any of these makes a build stale.
_SOURCES = ("services/incidents", "services/analyst", "schemas")
MANIFEST = "manifest.json"

_state = {"compiled": False, "why": "not installed"}


def digest(root: Path = ROOT) -> str:
    """Of the sources the build was made from, and of the interpreter that loads it."""
    h = hashlib.sha256(sys.implementation.cache_tag.encode())
    for folder in _SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, files: dict[str, Path]) -> None:
        self._files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        file = self._files.get(fullname)
        return importlib.util.spec_from_file_location(fullname, file) if file is not None else None


def usable(target: Path = TARGET, root: Path = ROOT, sources: str | None = None) -> dict[str, Path] | str:
    """Each module's compiled file when the build in ``target`` matches ``root``'s sources (``sources``:
    their ``digest``, when the caller has it), else why not."""
    try:
        manifest = orjson.loads((target / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return "not built: python -m services.compiled"
    if manifest.get("digest") != (sources or digest(root)):
        return "the build does not match the sources: python -m services.compiled"
    files = {name: target / relative for name, relative in manifest.get("modules", {}).items()}
    if set(COMPILED) - set(files) or not all(file.is_file() for file in files.values()):
        return f"the build in {target} is incomplete: python -m services.compiled"
    return files


def _chosen(target: Path, root: Path) -> dict[str, Path] | str:
    """``usable``, unless the environment asks for the interpreted modules."""
    return f"{SWITCH}=0" if os.environ.get(SWITCH, "1") == "0" else usable(target, root)


def install(target: Path = TARGET, root: Path = ROOT) -> bool:
    """Serve the compiled modules from ``target`` when its build matches the sources; True when it does."""
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return bool(_state["compiled"])
    files = _chosen(target, root)
    if isinstance(files, str):
        return _interpreted(files)
    if loaded := [name for name in COMPILED if name in sys.modules]:
        return _interpreted(f"{loaded[0]} was imported before the build could be installed")
    sys.meta_path.insert(0, _Finder(files))
    _state.update(compiled=True, why="mypyc")
    return True


def _interpreted(why: str) -> bool:
    _state.update(compiled=False, why=why)
    return False


def describe() -> str:
    """How correlation and the rules analysis run in this process, for logs and benchmark reports."""
    return "compiled (mypyc)" if _state["compiled"] else f"interpreted ({_state['why']})"


def planned() -> str:
    """How they will run in a process started now (the analyst a benchmark starts, say)."""
    files = _chosen(TARGET, ROOT)
    return f"interpreted ({files})" if isinstance(files, str) else "compiled (mypyc)"


_SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="aiops-compiled",
    ext_modules=mypycify(sys.argv.pop(1).split(";"), group_name={group!r}, target_dir={c!r}),
)
"""


def build(
    target: Path = TARGET,
    root: Path = ROOT,
    *,
    force: bool = False,
    starting: Callable[[], None] = lambda: None,
) -> str:
    """Compile ``COMPILED`` into ``target`` unless it is up to date; returns what happened, in one line.

    Raises ``RuntimeError`` with the compiler's last words when a build was possible and failed.
    """
    wanted = digest(root)  # of the sources as the build copies them, not as they may be after it
    # Up to date only as ``install`` would load it: a build missing a library is made again.
    if not force and not isinstance(usable(target, root, wanted), str):
        return f"{WHAT}: compiled, up to date ({target})"
    missing = [name for name in ("mypyc", "setuptools") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{WHAT}: interpreted ({' and '.join(missing)} not installed: pip install -e '.[dev]')"
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        return f"{WHAT}: interpreted (no C compiler: install gcc to compile it)"
    # Kept between builds: mypy's cache spares most of the type check after an edit.
    work = target / ".build"
    starting()
    with _locked(target):
        work.mkdir(parents=True, exist_ok=True)
        # mypy reads a copy of the sources: where they are installed (site-packages, in the image) it would
        # take every module beside them for the project's own.
        shutil.rmtree(work / "src", ignore_errors=True)
        for package in ("services", "schemas"):
            shutil.copytree(root / package, work / "src" / package, ignore=_not_python)
        (work / "mypy.ini").write_text("[mypy]\npython_version = 3.11\nignore_missing_imports = True\n")
        (work / "setup.py").write_text(_SETUP.format(group=GROUP, c=str(work / "c")))
        sources = [str(Path(*name.split(".")).with_suffix(".py")) for name in COMPILED]
        mypy_options = ["--config-file", str(work / "mypy.ini"), "--cache-dir", str(work / "mypy-cache")]
        command = [sys.executable, str(work / "setup.py"), ";".join([*mypy_options, *sources]), "build_ext"]
        command += ["--build-lib", str(work / "lib"), "--build-temp", str(work / "objects")]
        command += ["--parallel", str(os.cpu_count() or 1)]
        done = subprocess.run(command, cwd=work / "src", capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-12:]
            raise RuntimeError(f"mypyc could not compile {WHAT}:\n" + "\n".join(last))
        _place(work / "lib", target, wanted)
    return f"{WHAT}: compiled with mypyc into {target}"


def _not_python(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or ("." in name and not name.endswith(".py"))]


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One build at a time per target: two recipes started together must not write the same files."""
    with (target / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _place(built: Path, target: Path, wanted: str) -> None:
    """Copy the libraries into a folder of their own, then switch the manifest: a reader sees one build."""
    folder = wanted[:16]
    destination = target / folder
    shutil.rmtree(destination, ignore_errors=True)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    modules = {}
    # By name: the build folder also holds what earlier builds made of modules no longer compiled.
    for name in (*COMPILED, GROUP + "__mypyc"):
        relative = Path(*name.split(".")).with_name(name.split(".")[-1] + suffix)
        if not (built / relative).is_file():
            raise RuntimeError(f"mypyc did not build {name} (no {built / relative})")
        (destination / relative.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(built / relative, destination / relative)
        modules[name] = f"{folder}/{relative.as_posix()}"
    manifest = target / (MANIFEST + ".new")
    manifest.write_bytes(orjson.dumps({"digest": wanted, "modules": modules}, option=orjson.OPT_INDENT_2))
    manifest.replace(target / MANIFEST)
    for old in target.iterdir():
        if old.is_dir() and old.name not in (folder, ".build"):
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.compiled",
        description=f"Compile {WHAT} with mypyc into {TARGET} (used while they match the "
        f"sources; {SWITCH}=0 runs them interpreted). Without a C compiler or mypyc it says so and exits 0.",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the build is up to date")
    parser.add_argument("--quiet", action="store_true", help="say nothing when the build is up to date")
    options = parser.parse_args(argv)

    def starting() -> None:
        print(f"{WHAT}: compiling with mypyc (a minute or two, once per change)", flush=True)

    try:
        TARGET.mkdir(parents=True, exist_ok=True)
        said = build(force=options.force, starting=starting)
        if not (options.quiet and "up to date" in said):
            print(said)
    except (RuntimeError, OSError) as error:  # OSError: a prefix this user may not write, a full disk
        # The sources still run interpreted: a failed build costs speed, never correctness.
        print(f"{WHAT}: interpreted ({error})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
