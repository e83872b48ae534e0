"""A DATABASE_URL naming an SQLite file that cannot be made: one line naming it, exit 2, no retries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.runtime import CONFIG_ERROR_EXIT
from tests.support.nats_server import NatsServer, free_port
from tests.support.processes import BASE_ENV, REPO


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        # procfs takes no new file: sqlite cannot create it.
        ("/proc/history.db", "cannot open the SQLite database /proc/history.db"),
        # nor a new directory: the database's folder cannot be made.
        (
            "/proc/missing/history.db",
            "cannot create /proc/missing for the SQLite database /proc/missing/history.db",
        ),
    ],
)
@pytest.mark.timeout(60)
def test_history_exits_with_one_line_naming_the_database_path(
    nats_server: NatsServer, path: str, problem: str
) -> None:
    env = {
        **os.environ,
        **BASE_ENV,
        "NATS_URL": nats_server.url,
        "HEALTH_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{path}",
        # Long enough that a retried error would outlast the test's patience for the exit.
        "DATABASE_CONNECT_SECONDS": "30",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.history"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=25,
    )
    output = done.stdout + done.stderr
    assert done.returncode == CONFIG_ERROR_EXIT, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "DATABASE_URL" in line]
    assert len(errors) == 1, output
    assert problem in errors[0], output
