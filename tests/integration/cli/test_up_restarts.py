"""``aiops up`` keeps the pipeline running: a killed service is started again, the others untouched;
a service that cannot start stops everything with its own error instead of looping forever."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import signal
import socket
from pathlib import Path

import aiohttp
import pytest

from services.cli._supervisor import SERVICES, taken_addresses
from tests.faults._tally import wait_until
from tests.faults._up import STARTED, Up, alive, up_env
from tests.support.nats_server import NatsServer
from tests.support.processes import niceness, wait_ready


def listening_on(port: int) -> set[str]:
    """The addresses the kernel has a listening TCP socket on ``port`` for (/proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    str(ipaddress.ip_address(bytes.fromhex(address)[::-1])) if len(address) == 8 else address
                )
    return found


@pytest.mark.timeout(150)
async def test_a_killed_service_is_restarted_and_the_others_keep_running(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env, ports = up_env(nats_server.url)
    del env["INGEST_HOST"], env["HEALTH_HOST"]  # as a person runs it
    async with Up(env, tmp_path) as up:
        await up.wait_for("pipeline up:", 60)
        # Each service's health and metrics on loopback too: a laptop does not serve /metrics to its network.
        await wait_ready(f"http://127.0.0.1:{ports['analyst']}", 30, "analyst", log=up.output)
        assert listening_on(ports["analyst"]) == {"127.0.0.1"}
        first = dict(up.started())
        assert set(first) == set(SERVICES)  # every service aiops up runs, each a process of its own
        # On one host the analyst gets a core first: every other service runs 5 nicer, each thread
        # (set as the service starts, which "pipeline up" does not wait for in every service).
        here = os.getpriority(os.PRIO_PROCESS, 0)
        for name, pid in first.items():
            expected = here if name == "analyst" else min(here + 5, 19)

            async def at_expected(pid: int = pid, expected: int = expected) -> bool:
                return niceness(pid) == {expected}

            await wait_until(at_expected, 30, f"every thread of {name} at niceness {expected}")
        # Listening on loopback by default, /analyze needs no credentials (nobody else can reach it).
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{ports['ingest']}/analyze", json={"labels": {"alertname": "UpCheck"}}
            ) as r,
        ):
            assert r.status == 202, await r.text()

        os.kill(first["enricher"], signal.SIGKILL)
        # Killed mid-run, it waits only what is left of the first second since its start (often nothing).
        await up.wait_for(r"aiops: enricher exited with code -9; restart 1 in 0\.\d s", 30)
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
    assert re.search(r"aiops: enricher exited with code 2; restart 2 in [\d.]+ s", output), output[-3000:]
    assert "restart 3" not in output
    error = output.split("aiops: enricher cannot start", 1)[1]
    assert "on each of its 3 tries" in error
    assert "MAX_QUERIES_PER_ALERT must be a int (got 'abc')" in error
    # Everything it started is stopped.
    started = re.findall(STARTED, output)
    assert [name for name, _ in started].count("enricher") == 3
    assert not any(alive(int(pid)) for _, pid in started)


@pytest.mark.parametrize(
    "taken", ["CONSOLE_PORT", "INGEST_PORT", "ANALYST_HEALTH_PORT", "NATS_PORT", "NATS_MONITOR_PORT"]
)
async def test_a_port_already_taken_stops_up_before_anything_starts_naming_its_variable(
    taken: str, tmp_path: Path
) -> None:
    env, _ = up_env(None)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env[taken] = str(port)
        async with Up(env, tmp_path) as up:
            code = await asyncio.wait_for(up.process.wait(), 30)
            await asyncio.wait_for(up.reader, 30)
    output = up.output()
    assert code != 0, output
    assert f":{port} (" in output, output
    assert f"{taken}) is already in use" in output, output
    assert f"set {taken} to a free port" in output
    assert "Traceback" not in output
    assert not up.started(), output  # not even nats-server: nothing to stop half-way


async def test_a_port_that_is_no_number_is_named(tmp_path: Path) -> None:
    env, _ = up_env(None, INGEST_PORT="80OO")
    async with Up(env, tmp_path) as up:
        code = await asyncio.wait_for(up.process.wait(), 30)
        await asyncio.wait_for(up.reader, 30)
    assert code != 0
    assert "aiops: INGEST_PORT must be a port number, 0-65535 (got '80OO')" in up.output()
    assert "Traceback" not in up.output()


def test_the_port_check_takes_ipv6_and_names_that_do_not_resolve() -> None:
    # INGEST_HOST=::1 is a setup the services serve; the check before them must not trip on it.
    with socket.socket(socket.AF_INET6) as holder:
        holder.bind(("::1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {"INGEST_HOST": "::1", "INGEST_PORT": str(port), "CONSOLE_HOST": "no-such-host.invalid"}
        taken = taken_addresses({**env, "CONSOLE_PORT": "0", "NATS_URL": "nats://elsewhere:4222"})
    assert [line for line in taken if "INGEST_PORT" in line] == [
        f"aiops: ::1:{port} (ingest, INGEST_PORT) is already in use:"
        " stop the process listening there, or set INGEST_PORT to a free port."
    ]
