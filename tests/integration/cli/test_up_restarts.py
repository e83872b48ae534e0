"""``aiops up`` keeps the pipeline running: a killed service is started again, the others untouched;
a service that cannot start stops everything with its own error instead of looping forever."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.integration.cli.conftest import REPO
from tests.support.nats_server import NatsServer, free_port
from tests.support.processes import BASE_ENV, wait_ready

STARTED = re.compile(r"aiops: started (\w+) \(pid (\d+)\)")


class Up:
    """``aiops up`` as a subprocess whose output lines a test can wait for."""

    def __init__(self, env: dict[str, str], data: Path) -> None:
        self.env = env
        self.data = data
        self.lines: list[str] = []
        self.changed = asyncio.Condition()

    async def __aenter__(self) -> Up:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "up", "--data", str(self.data), cwd=REPO, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        self.reader.cancel()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            async with self.changed:
                self.lines.append(line.decode(errors="replace"))
                self.changed.notify_all()
        async with self.changed:
            self.lines.append("")  # end of output
            self.changed.notify_all()

    async def wait_for(self, pattern: str, within: float, count: int = 1) -> list[re.Match[str]]:
        """The first ``count`` lines matching ``pattern``, waiting for them up to ``within`` seconds."""

        def found() -> list[re.Match[str]]:
            matches = [m for line in self.lines if (m := re.search(pattern, line))]
            ended = bool(self.lines) and self.lines[-1] == ""
            assert len(matches) >= count or not ended, f"no {pattern!r} in:\n{self.output()[-3000:]}"
            return matches

        try:
            async with asyncio.timeout(within), self.changed:
                await self.changed.wait_for(lambda: len(found()) >= count)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} after {within}s:\n{self.output()[-3000:]}") from None
        return found()[:count]

    def output(self) -> str:
        return "".join(self.lines)

    def started(self) -> list[tuple[str, int]]:
        return [(m[1], int(m[2])) for line in self.lines if (m := STARTED.search(line))]


def up_env(nats_url: str, **extra: str) -> tuple[dict[str, str], dict[str, int]]:
    ports = {name: free_port() for name in ("ingest", "enricher", "analyst", "notifier")}
    env = {**os.environ, **BASE_ENV, "NATS_URL": nats_url, "INGEST_PORT": str(ports["ingest"]), **extra}
    for name in ("enricher", "analyst", "notifier"):
        env[f"{name.upper()}_HEALTH_PORT"] = str(ports[name])
    return env, ports


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.timeout(150)
async def test_a_killed_service_is_restarted_and_the_others_keep_running(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env, ports = up_env(nats_server.url)
    async with Up(env, tmp_path) as up:
        await up.wait_for("pipeline up:", 60)
        first = dict(up.started())
        assert set(first) == {"ingest", "enricher", "analyst", "notifier"}

        os.kill(first["enricher"], signal.SIGKILL)
        await up.wait_for(r"aiops: enricher exited with code -9; restart 1 in 1 s", 30)
        await up.wait_for(r"aiops: started enricher \(pid \d+\)", 30, count=2)
        await wait_ready(f"http://127.0.0.1:{ports['enricher']}", 30, "enricher", log=up.output)

        again = dict(up.started())
        assert again["enricher"] != first["enricher"]
        assert alive(again["enricher"])
        assert [name for name, _ in up.started()].count("enricher") == 2
        for name in ("ingest", "analyst", "notifier"):
            assert [n for n, _ in up.started()].count(name) == 1, up.output()[-3000:]
            assert alive(first[name]), f"{name} (pid {first[name]}) is gone"
        await wait_ready(f"http://127.0.0.1:{ports['analyst']}", 30, "analyst", log=up.output)
        await wait_ready(f"http://127.0.0.1:{ports['notifier']}", 30, "notifier", log=up.output)

        # Ctrl-C still stops everything, cleanly.
        os.killpg(up.process.pid, signal.SIGINT)
        code = await asyncio.wait_for(up.process.wait(), 60)
        await up.wait_for("stopping", 30)
        assert code == 0, up.output()[-3000:]
        assert "restart 2" not in up.output()
        assert not any(alive(pid) for _, pid in up.started())


@pytest.mark.timeout(150)
async def test_a_service_that_cannot_start_stops_up_with_its_own_error(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env, _ = up_env(nats_server.url, MAX_QUERIES_PER_ALERT="abc")  # read by the enricher only
    async with Up(env, tmp_path) as up:
        code = await asyncio.wait_for(up.process.wait(), 60)
        await asyncio.wait_for(up.reader, 30)
    output = up.output()
    assert code != 0, output[-3000:]
    assert "aiops: enricher exited with code 2; restart 2 in 2 s" in output
    assert "restart 3" not in output
    error = output.split("aiops: enricher cannot start", 1)[1]
    assert "on each of its 3 tries" in error
    assert "MAX_QUERIES_PER_ALERT must be a int (got 'abc')" in error
    # Everything it started is stopped.
    started = re.findall(STARTED, output)
    assert [name for name, _ in started].count("enricher") == 3
    assert not any(alive(int(pid)) for _, pid in started)
