"""A NATS server refusing our credentials is said once, plainly, naming the settings to check and never
the password: at start a service exits as on a bad setting (code 2, one line); a running one keeps
retrying without a warning every half second; ``aiops`` says it in one line at once.

Before, nats-py's ``nats: 'Authorization Violation'`` came back twice a second, forever, naming no
setting: a wrong password looked like an outage that would pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from services.runtime import CONFIG_ERROR_EXIT
from tests.integration.cli.conftest import aiops
from tests.integration.runtime.test_cannot_start import exit_of
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess, wait_ready

PASSWORD = "PWSECRET99"
WRONG = "NOTMYPASS42"
HINT = (
    "refused our credentials (Authorization Violation):"
    " check the user and password in NATS_URL, NATS_TOKEN or NATS_CREDS"
)


@pytest.fixture
def guarded_server() -> Iterator[NatsServer]:
    server = NatsServer(extra_args=["--user", "aiops", "--pass", PASSWORD]).start()
    try:
        yield server
    finally:
        server.close()


def url_with(server: NatsServer, password: str) -> str:
    return f"nats://aiops:{password}@127.0.0.1:{server.port}"


@pytest.mark.parametrize("service", ["ingest", "enricher"])
async def test_a_service_refused_at_start_exits_naming_the_settings(
    service: str, guarded_server: NatsServer
) -> None:
    code, output = await exit_of(service, {"NATS_URL": url_with(guarded_server, WRONG), "LOG_LEVEL": "INFO"})
    assert code == CONFIG_ERROR_EXIT, output
    assert (
        f"python -m services.{service}: configuration error: NATS at 127.0.0.1:{guarded_server.port} {HINT}"
    ) in output
    assert WRONG not in output
    assert "Traceback" not in output


def refusals(server: NatsServer) -> int:
    return server.log_path.read_text().count("authentication error")


async def test_a_running_service_refused_on_reconnecting_says_it_once_and_keeps_trying(
    guarded_server: NatsServer, tmp_path: Path
) -> None:
    process = ServiceProcess(
        "enricher", {"NATS_URL": url_with(guarded_server, PASSWORD), "LOG_LEVEL": "INFO"}, tmp_path
    ).start()
    try:
        await wait_ready(process.url, 60, "enricher", alive=process.alive, log=process.log)
        # The server's users changed under the running service (a rollout): our password is now wrong.
        guarded_server.extra_args = ["--user", "aiops", "--pass", "ROTATED77"]
        guarded_server.restart()
        deadline = time.monotonic() + 30
        while refusals(guarded_server) < 6:
            assert process.alive(), process.log()[-2000:]
            assert time.monotonic() < deadline, guarded_server.log_path.read_text()[-2000:]
            await asyncio.sleep(0.05)
        log = process.log()
        assert log.count(HINT) == 1, log[-3000:]
        assert "Authorization Violation'" not in log  # nats-py's own words, once per attempt
        assert process.alive()

        guarded_server.extra_args = ["--user", "aiops", "--pass", PASSWORD]
        guarded_server.restart()
        deadline = time.monotonic() + 30
        while "nats: reconnected" not in process.log():
            assert process.alive(), process.log()[-2000:]
            assert time.monotonic() < deadline, process.log()[-2000:]
            await asyncio.sleep(0.05)
        assert PASSWORD not in process.log()
    finally:
        process.kill()


async def test_aiops_refused_says_so_in_one_line_at_once(guarded_server: NatsServer) -> None:
    run = await aiops(url_with(guarded_server, WRONG), "dlq", "list")
    assert run.code != 0
    assert run.stderr.strip() == f"aiops: NATS at 127.0.0.1:{guarded_server.port} {HINT}", run.stderr
    assert WRONG not in run.stdout + run.stderr


async def test_aiops_status_says_the_server_refused_our_credentials_not_that_it_timed_out(
    guarded_server: NatsServer,
) -> None:
    run = await aiops(url_with(guarded_server, WRONG), "status", "--json")

    assert run.code == 1
    report = orjson.loads(run.stdout)
    assert report["problems"][0] == f"NATS: 127.0.0.1:{guarded_server.port} {HINT}", report["problems"]
    assert WRONG not in run.stdout + run.stderr
