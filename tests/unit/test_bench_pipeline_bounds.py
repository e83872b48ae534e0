"""The pipeline benchmark says whether a round was bound by the machine or by one service, and measures
each flood against the relay on both sides of it."""

from __future__ import annotations

import pytest

from bench.pipeline import around_flood, bounds

FLOOD = {"ingest": 80.0, "enricher": 70.0, "analyst": 270.0, "notifier": 40.0, "nats-server": 160.0}


def test_the_machine_bound_counts_every_process_and_the_client_on_every_core() -> None:
    machine, _, _ = bounds(FLOOD, client_cpu=20.0, relay_rate=4000.0, cores=2)
    # 2 cores / 640 µs of CPU per alert = 3,125 alerts/s, against a relay at 4,000
    assert machine == pytest.approx(0.78125)


def test_the_service_bound_is_the_busiest_service_alone_on_a_core() -> None:
    _, one, busiest = bounds(FLOOD, client_cpu=20.0, relay_rate=4000.0, cores=2)
    assert busiest == "analyst"
    assert one == pytest.approx(1e6 / 270 / 4000)


def test_nats_server_runs_on_every_core_so_it_never_bounds_one_core() -> None:
    _, one, busiest = bounds({**FLOOD, "nats-server": 900.0}, client_cpu=0.0, relay_rate=4000.0, cores=2)
    assert busiest == "analyst"
    assert one == pytest.approx(1e6 / 270 / 4000)


def test_a_flood_is_measured_against_the_relay_before_and_after_it() -> None:
    # The machine slowed from a relay at 6,000 alerts/s to one at 4,000 during the flood: its baseline
    # lies between the two, not at either end.
    assert around_flood(6000.0, 4000.0) == pytest.approx(4898.98, abs=0.01)
    assert around_flood(5000.0, 5000.0) == pytest.approx(5000.0)
