"""A service still waiting for NATS stops on SIGTERM, as systemd and Kubernetes expect, without a traceback.

nats-py retries a refused first connection inside one connect() call; before the runtime raced that call
against the stop signal, such a process ignored SIGTERM until it was killed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.nats_server import free_port
from tests.support.processes import ServiceProcess


async def _log_shows(process: ServiceProcess, text: str, within: float) -> None:
    deadline = time.monotonic() + within
    while text not in process.log():
        assert process.alive(), f"{process.name} exited early:\n{process.log()[-2000:]}"
        assert time.monotonic() < deadline, f"{process.name} never logged {text!r}:\n{process.log()[-2000:]}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("service", ["ingest", "enricher"])
async def test_sigterm_stops_a_service_that_never_reached_nats(service: str, tmp_path: Path) -> None:
    nobody = f"nats://127.0.0.1:{free_port()}"
    process = ServiceProcess(service, {"NATS_URL": nobody, "LOG_LEVEL": "INFO"}, tmp_path).start()
    try:
        await _log_shows(process, "Connect call failed", within=30)
        assert process.process is not None
        process.process.terminate()
        code = await asyncio.to_thread(process.process.wait, 10)
    finally:
        process.kill()
    assert code == 0, process.log()[-2000:]
    assert f"stopped before NATS at {nobody} answered" in process.log()
    assert "Traceback" not in process.log()
