"""Correlation compiled with mypyc (services/compiled.py) decides exactly what the interpreted sources decide:
every assignment and score, every index entry as the key-value store holds it, every event of every storm
scenario. Each run is its own process, as the analyst is: the build is chosen when correlation loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import compiled


def _trace(switch: str) -> list[str]:
    env = {**os.environ, compiled.SWITCH: switch}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.correlation_trace"],
        cwd=compiled.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.splitlines()


def test_compiled_correlation_groups_every_storm_exactly_as_the_sources_do() -> None:
    build = compiled.usable()
    if isinstance(build, str):
        pytest.skip(f"correlation is not compiled on this machine ({build})")

    as_compiled, as_interpreted = _trace("1"), _trace("0")

    assert as_compiled[0] == "compiled (mypyc)"
    assert as_interpreted[0] == f"interpreted ({compiled.SWITCH}=0)"
    assert len(as_compiled) > 1000  # every storm's batches, assignments and events
    assert as_compiled[1:] == as_interpreted[1:]
