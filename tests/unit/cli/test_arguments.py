"""What the command line refuses, and how it says so: one line naming the flag, exit 2 as for every
usage error, no traceback."""

from __future__ import annotations

import pytest

from services.cli import main


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
