"""What the command line refuses, and how it says so: under the usage, one error line naming the flag
and what it takes; exit 2 as for every usage error; no traceback."""

from __future__ import annotations

import pytest

from services.cli import main

ACCEPTED_TIMES = (
    "give a duration back from now (90s, 30m, 2h or 7d) "
    "or an RFC 3339 time (2026-11-26T10:00:00Z, 2026-11-26T10:00+01:00, 2026-11-26)"
)


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error line of a command argparse refuses."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    return stderr.splitlines()[-1]


@pytest.mark.parametrize("command", [["tail"], ["dlq", "list"]])
@pytest.mark.parametrize("count", ["0", "-1", "all"])
def test_n_takes_a_count_from_one(capsys: pytest.CaptureFixture[str], command: list[str], count: str) -> None:
    line = _usage_error(capsys, *command, "-n", count)
    assert line.endswith(f"error: argument -n/--limit: '{count}' is not a count: give a whole number from 1")


@pytest.mark.parametrize(
    "command",
    [
        ["replay", "--since"],
        ["replay", "--since", "1h", "--until"],
        ["history", "rebuild", "--since"],
        ["feedback", "export", "--since"],
        ["tail", "--since"],
    ],
)
def test_a_time_that_is_neither_a_duration_nor_a_date_lists_what_is_accepted(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    flag = command[-1]
    line = _usage_error(capsys, *command, "yesterday")
    assert line.endswith(f"error: argument {flag}: 'yesterday' is not a time: {ACCEPTED_TIMES}")


def test_replay_until_before_since_is_a_usage_error_naming_both(capsys: pytest.CaptureFixture[str]) -> None:
    line = _usage_error(
        capsys, "replay", "--since", "2026-11-26T10:00:00Z", "--until", "2026-11-26T10:00:00+02:00"
    )
    assert line == (
        "aiops replay: error: argument --until: 2026-11-26T08:00:00Z is before --since 2026-11-26T10:00:00Z; "
        "the window between them is empty"
    )
    # As durations: 3h ago is before 2h ago.
    line = _usage_error(capsys, "replay", "--since", "2h", "--until", "3h")
    assert "argument --until:" in line
    assert "is before --since" in line


@pytest.mark.parametrize("when", ["99999999999d", "800000d", "0001-01-01T00:00+14:00"])
def test_a_time_no_calendar_holds_is_refused_like_any_other(
    capsys: pytest.CaptureFixture[str], when: str
) -> None:
    for command in (["tail", "--since"], ["replay", "--since"], ["replay", "--since", "1h", "--until"]):
        line = _usage_error(capsys, *command, when)
        assert line.endswith(f"error: argument {command[-1]}: {when!r} is not a time: {ACCEPTED_TIMES}")
