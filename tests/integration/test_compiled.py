"""Correlation and the rules analysis compiled with mypyc (services/compiled.py) decide exactly what the
interpreted sources decide: every assignment and score, every index entry as the key-value store holds it,
every event of every storm scenario, every word of every explanation. Each run is its own process, as the
analyst is: the build is chosen when the modules load."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import compiled


def _trace(module: str, switch: str) -> list[str]:
    env = {**os.environ, compiled.SWITCH: switch}
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=compiled.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.splitlines()


def _built() -> None:
    build = compiled.usable()
    if isinstance(build, str):
        pytest.skip(f"{compiled.WHAT} is not compiled on this machine ({build})")


def test_compiled_correlation_groups_every_storm_exactly_as_the_sources_do() -> None:
    _built()

    as_compiled = _trace("tests.support.correlation_trace", "1")
    as_interpreted = _trace("tests.support.correlation_trace", "0")

    assert as_compiled[0] == "compiled (mypyc)"
    assert as_interpreted[0] == f"interpreted ({compiled.SWITCH}=0)"
    assert len(as_compiled) > 1000  # every storm's batches, assignments and events
    assert as_compiled[1:] == as_interpreted[1:]


def test_compiled_rules_explain_every_alert_word_for_word_as_the_sources_do() -> None:
    _built()

    as_compiled = _trace("tests.support.rules_trace", "1")
    as_interpreted = _trace("tests.support.rules_trace", "0")

    assert as_compiled[0] == "compiled (mypyc)"
    assert as_interpreted[0] == f"interpreted ({compiled.SWITCH}=0)"
    assert len(as_compiled) > 5000  # scenarios, floods, storms (and the public rules where present)
    assert as_compiled[1:] == as_interpreted[1:]
