"""``.env`` as users write it and as ``aiops setup`` rewrites it: read the same as compose reads it,
rewritten without losing a comment or a key, secret-safe (0600), and a bad line named by number."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.cli._dotenv import (
    EnvFileError,
    apply_env_file,
    parse_env,
    quote,
    read_env_file,
    update_env_file,
)

USER_FILE = """\
# Written by hand: the comments stay.
export LOG_LEVEL=DEBUG
LLM_MODEL = deepseek-chat   # spaces around = and an inline comment
SLACK_WEBHOOK_URL='https://hooks.slack.com/services/T0/B0/x#y'
GRAFANA_ADMIN_PASSWORD="p@ss \\"word\\" # not a comment"
EMPTY=
HASH_IN_VALUE=abc#def
MY_OWN_TOOL_SETTING=kept

"""


def test_reads_the_forms_users_write() -> None:
    assert parse_env(USER_FILE) == {
        "LOG_LEVEL": "DEBUG",
        "LLM_MODEL": "deepseek-chat",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x#y",
        "GRAFANA_ADMIN_PASSWORD": 'p@ss "word" # not a comment',
        "EMPTY": "",
        "HASH_IN_VALUE": "abc#def",
        "MY_OWN_TOOL_SETTING": "kept",
    }


def test_double_quotes_take_escapes_single_quotes_are_literal() -> None:
    assert parse_env("A=\"one\\ntwo\"\nB='one\\ntwo'\nC='$HOME'") == {
        "A": "one\ntwo",
        "B": "one\\ntwo",
        "C": "$HOME",
    }


def test_a_key_set_twice_keeps_the_last_value() -> None:
    assert parse_env("A=1\nA=2\n") == {"A": "2"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("LLM_API_KEY sk-secret-value", "expected KEY=VALUE"),
        ("LLM-API-KEY=x", "is not a variable name"),
        ("A='never closed", "is not closed on this line"),
        ('A="x" trailing', "unexpected text after the closing"),
    ],
)
def test_a_malformed_line_is_an_error_naming_the_file_and_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / ".env"
    path.write_text(f"# settings\nLOG_LEVEL=INFO\n{line}\n")
    with pytest.raises(EnvFileError) as error:
        read_env_file(path)
    assert str(error.value).startswith(f"{path}, line 3: ")
    assert reason in str(error.value)
    assert "sk-secret-value" not in str(error.value)


def test_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / ".env") == {}


def test_update_keeps_comments_order_and_unknown_keys_replacing_in_place(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(USER_FILE)
    update_env_file(path, {"LOG_LEVEL": "INFO", "LLM_MODEL": "gpt-4o-mini", "LLM_API_KEY": "sk-new"})
    lines = path.read_text().splitlines()
    assert lines[0] == "# Written by hand: the comments stay."
    assert lines[1] == "export LOG_LEVEL=INFO"
    assert lines[2] == "LLM_MODEL=gpt-4o-mini"
    assert lines[-1] == "LLM_API_KEY=sk-new"
    assert read_env_file(path) == {
        **parse_env(USER_FILE),
        "LOG_LEVEL": "INFO",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_API_KEY": "sk-new",
    }


def test_a_repeated_key_ends_with_one_line_holding_the_new_value(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nB=2\nA=3\n")
    update_env_file(path, {"A": "4"})
    assert path.read_text() == "A=4\nB=2\n"


def test_the_written_file_is_readable_by_its_owner_only_even_if_it_was_not(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0o644)
    update_env_file(path, {"INGEST_AUTH_TOKEN": "t0ken"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fresh = tmp_path / "new.env"
    update_env_file(fresh, {"A": "1"})
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "new.env"]  # no temporary file left


def test_a_value_no_quoting_can_hold_is_refused_before_the_file_is_touched(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    with pytest.raises(ValueError, match="cannot be"):
        update_env_file(path, {"A": "2", "B": "it's $5"})
    assert path.read_text() == "A=1\n"


def test_a_device_or_directory_is_never_replaced(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        update_env_file(Path(os.devnull), {"A": "1"})
    with pytest.raises(ValueError, match="not a regular file"):
        update_env_file(tmp_path, {"A": "1"})
    assert Path(os.devnull).is_char_device()


# Printable text without line breaks, minus the one shape no quoting serves (' with " \ $ or `).
_values = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40).filter(
    lambda v: "'" not in v or not any(c in v for c in '"\\$`')
)


@given(_values)
def test_any_writable_value_reads_back_unchanged(value: str) -> None:
    assert parse_env(f"K={quote(value)}") == {"K": value}


@settings(max_examples=40)
@given(_values)
def test_bash_reads_what_we_write_the_same(value: str) -> None:
    # The shell is the other reader (`set -a; . ./.env`); compose follows the same quoting rules.
    shown = subprocess.run(
        ["bash", "-c", f'K={quote(value)}; printf %s "$K"'], capture_output=True, text=True, check=True
    )
    assert shown.stdout == value


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".env"
    path.write_text("AIOPS_TEST_FROM_FILE=file\nAIOPS_TEST_IN_BOTH=file\n")
    monkeypatch.setenv("AIOPS_TEST_IN_BOTH", "environment")
    monkeypatch.delenv("AIOPS_TEST_FROM_FILE", raising=False)
    assert apply_env_file(path) == path
    assert os.environ["AIOPS_TEST_FROM_FILE"] == "file"
    assert os.environ["AIOPS_TEST_IN_BOTH"] == "environment"
    monkeypatch.delenv("AIOPS_TEST_FROM_FILE")


def test_a_malformed_file_stops_the_command_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nnot an assignment\n")
    with pytest.raises(SystemExit, match=r"\.env, line 2: expected KEY=VALUE"):
        apply_env_file(path)
