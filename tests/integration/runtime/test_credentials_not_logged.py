"""A NATS user's password, or token, in NATS_URL (the only place a service takes one) never reaches
the service's log: the settings it logs at start show the URL with the secret masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.runtime.test_stop_before_nats import _log_shows
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess

PASSWORD = "PWsecret-99-not-for-logs"


USER_AND_PASSWORD = (["--user", "aiops", "--pass", PASSWORD], f"aiops:{PASSWORD}")
TOKEN = (["--auth", PASSWORD], PASSWORD)


@pytest.mark.parametrize(("auth", "userinfo"), [USER_AND_PASSWORD, TOKEN])
async def test_the_password_in_nats_url_is_masked_in_the_log(
    auth: list[str], userinfo: str, tmp_path: Path
) -> None:
    server = NatsServer(extra_args=auth).start()
    process = ServiceProcess(
        "enricher",
        {"NATS_URL": f"nats://{userinfo}@127.0.0.1:{server.port}", "LOG_LEVEL": "DEBUG"},
        tmp_path,
    ).start()
    try:
        await _log_shows(process, "enricher consuming", within=60)  # connected: the credentials worked
    finally:
        process.kill()
        server.kill()
    log = process.log()
    assert "starting with" in log
    assert PASSWORD not in log
    assert "********@127.0.0.1" in log
