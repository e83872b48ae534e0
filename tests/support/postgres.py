"""A real PostgreSQL for tests: Debian's binaries, a cluster in a temp dir, on a free port.

Like the nats-server fixture: started by the test, stoppable and restartable on the same port and data
(what "the database went down" looks like), and skipped with the reason when the binaries are absent.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.nats_server import free_port, wait_until


def _debian_bin() -> Path:
    """The newest of Debian's installed versions (15 on bookworm), or where POSTGRES_BIN says."""
    if os.environ.get("POSTGRES_BIN"):
        return Path(os.environ["POSTGRES_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


BIN = _debian_bin()


def postgres_missing() -> str | None:
    """Why PostgreSQL cannot run here, or None."""
    for name in ("initdb", "postgres"):
        if not (BIN / name).exists():
            return f"PostgreSQL binaries not found in {BIN} (apt-get install postgresql, or set POSTGRES_BIN)"
    if os.geteuid() == 0 and not _system_user():
        return "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as"
    return None


def _system_user() -> str | None:
    """As root, the server runs as Debian's ``postgres`` user (it refuses to run as root)."""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return "postgres" if shutil.which("setpriv") else None


def _as_server_user(args: list[str]) -> list[str]:
    """setpriv execs in place: the process started is postgres itself, so signals reach it."""
    user = _system_user() if os.geteuid() == 0 else None
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *args] if user else args


class Postgres:
    """One postgres process over its own cluster; ``stop``/``start`` keep the data."""

    def __init__(self) -> None:
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="pg-")
        self.root = Path(self._tmp.name)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.user = (_system_user() if os.geteuid() == 0 else None) or getpass.getuser()
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def init(self) -> Postgres:
        initdb = [str(BIN / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8"]
        subprocess.run(_as_server_user([*initdb, "--no-sync"]), check=True, capture_output=True)
        return self

    def start(self) -> Postgres:
        args = [
            str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
            "-k", str(self.root), "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(_as_server_user(args), stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, 30, f"postgres on :{self.port}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log_path.read_text()[-2000:]}")
        probe = subprocess.run(
            [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user],
            capture_output=True,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGINT: PostgreSQL's fast shutdown, which ends open sessions (SIGTERM would wait for them).
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def reset(self) -> None:
        """Drop everything a test made, keeping the server (cheaper than a fresh cluster per test)."""
        psql = str(BIN / "psql") if (BIN / "psql").exists() else "psql"
        subprocess.run(
            [psql, self.url, "-q", "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
            check=True,
            capture_output=True,
        )

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()
