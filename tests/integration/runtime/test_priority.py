"""PROCESS_NICE: a service asked to yield the CPU runs every thread of it nicer, from its start; a value
nice(1) would not take stops it with a clear error (``aiops up`` relies on it: tests/integration/cli)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess, niceness


async def test_a_service_runs_every_thread_at_the_niceness_asked(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    here = os.getpriority(os.PRIO_PROCESS, 0)
    nicer = ServiceProcess("notifier", {"NATS_URL": nats_server.url, "PROCESS_NICE": "3"}, tmp_path).start()
    plain = ServiceProcess("enricher", {"NATS_URL": nats_server.url}, tmp_path).start()
    try:
        await asyncio.gather(nicer.wait_ready(), plain.wait_ready())
        assert niceness(nicer.pid) == {min(here + 3, 19)}, nicer.log()[-2000:]
        assert niceness(plain.pid) == {here}
        assert "not applied" not in nicer.log()
    finally:
        nicer.stop()
        plain.stop()


async def test_a_niceness_out_of_range_stops_the_service_naming_it(tmp_path: Path) -> None:
    process = ServiceProcess("ingest", {"PROCESS_NICE": "20"}, tmp_path).start()
    assert process.process is not None
    code = await asyncio.to_thread(process.process.wait, 30)
    assert code == 2, process.log()[-2000:]
    assert "PROCESS_NICE: Expected `int` <= 19" in process.log()
