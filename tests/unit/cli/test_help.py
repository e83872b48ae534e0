"""``--help`` of the commands a first-time user runs after the demo says what every flag does."""

from __future__ import annotations

import argparse

import pytest

from services.cli import _parser


def _command(name: str) -> argparse.ArgumentParser:
    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = commands.choices[name]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


@pytest.mark.parametrize("name", ["demo", "tail", "send", "status"])
def test_every_flag_of_a_first_days_command_says_what_it_does(name: str) -> None:
    silent = [a.option_strings[0] for a in _command(name)._actions if a.option_strings and not a.help]
    assert silent == [], f"aiops {name}: no help for {silent}"


def test_status_help_says_when_it_exits_non_zero() -> None:
    assert "Exits 1 when a service is down" in _command("status").format_help()
