"""``aiops status``'s report from two snapshots: rates, problems, and what is only shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import orjson
import pytest
from rich.console import Console

from services import runtime
from services.analyst import AnalystSettings
from services.cli._probes import DEFAULT_PORTS, SERVICES, ServiceProbe, parse_metrics, service_urls
from services.cli._status import CONSUMERS, NatsView, Snapshot, assess
from services.cli._status_command import BUDGET_BUCKET
from services.cli._status_nats import connection_options
from services.cli._status_screen import render
from services.console import ConsoleSettings
from services.enricher import EnricherSettings
from services.history import HistorySettings
from services.ingest import IngestSettings
from services.notifier import NotifierSettings
from services.runtime._jetstream import nats_options

REPO = Path(__file__).resolve().parents[3]

ANALYST_METRICS = """
# TYPE aiops_llm_breaker_open gauge
aiops_llm_breaker_open {breaker}
# TYPE aiops_llm_requests counter
aiops_llm_requests_total{{outcome="ok"}} 7.0
aiops_llm_requests_total{{outcome="http_429"}} 2.0
"""
NOTIFIER_METRICS = """
# TYPE aiops_notifications counter
aiops_notifications_total{{destination="slack",outcome="delivered"}} {delivered}
aiops_notifications_total{{destination="slack",outcome="rejected"}} 1.0
aiops_notifications_total{{destination="pager",outcome="retry"}} 3.0
"""


def probe(
    name: str, up: bool = True, ready: bool = True, metrics: str = "", reason: str = ""
) -> ServiceProbe:
    return ServiceProbe(
        name, f"http://127.0.0.1:{DEFAULT_PORTS[name]}", up, ready, reason, parse_metrics(metrics)
    )


def snapshot(
    at: float,
    raw: int,
    analyzed: int,
    delivered: int,
    breaker: int = 0,
    nats_error: str = "",
    down: tuple[str, ...] = (),
) -> Snapshot:
    metrics = {
        "analyst": ANALYST_METRICS.format(breaker=breaker),
        "notifier": NOTIFIER_METRICS.format(delivered=delivered),
    }
    services = {
        name: probe(name, metrics=metrics.get(name, ""))
        if name not in down
        else probe(name, up=False, ready=False, reason="nothing listens there")
        for name in SERVICES
    }
    subjects = {"alerts.raw": raw, "alerts.enriched": raw, "alerts.analyzed": analyzed, "alerts.dead": 2}
    consumers: dict[str, dict[str, int] | str] = {
        name: {"lag": 5, "ack_pending": 1, "redelivered": 0} for name in ("enricher", "analyst", "notifier")
    }
    view = NatsView(error=nats_error, consumers=consumers, subjects=subjects, messages=sum(subjects.values()))
    return Snapshot(at, services, view, took=0.01)


def test_rates_come_from_the_difference_of_two_snapshots() -> None:
    report = assess(snapshot(10.0, 100, 90, 80), snapshot(12.0, 140, 110, 100))
    services = report["services"]
    assert (services["enricher"]["in_per_s"], services["enricher"]["out_per_s"]) == (20.0, 20.0)
    assert (services["analyst"]["in_per_s"], services["analyst"]["out_per_s"]) == (20.0, 10.0)
    assert (services["notifier"]["in_per_s"], services["notifier"]["out_per_s"]) == (10.0, 10.0)
    assert services["notifier"]["lag"] == 5
    assert report["rate_seconds"] == 2.0


def test_a_counter_that_went_down_counts_from_zero_after_a_restart() -> None:
    report = assess(snapshot(10.0, 100, 90, 500), snapshot(11.0, 100, 90, 4))
    assert report["services"]["notifier"]["out_per_s"] == 4.0


def test_dead_letters_and_lag_are_shown_but_healthy() -> None:
    report = assess(snapshot(0.0, 1, 1, 1), snapshot(1.0, 1, 1, 1))
    assert report["healthy"] is True
    assert report["problems"] == []
    assert report["dead_letters"] == 2
    assert report["destinations"] == {"slack": {"delivered": 1, "rejected": 1}, "pager": {"retry": 3}}
    assert report["llm"]["requests_since_start"] == {"ok": 7, "http_429": 2}
    assert report["llm"]["breaker"] == "closed"


def test_a_service_down_an_open_breaker_or_no_nats_are_problems() -> None:
    down = assess(snapshot(0.0, 1, 1, 1), snapshot(1.0, 1, 1, 1, down=("enricher",)))
    assert down["problems"] == ["enricher is down: nothing listens there"]
    assert down["healthy"] is False
    assert down["services"]["notifier"]["in_per_s"] == 0.0

    breaker = assess(snapshot(0.0, 1, 1, 1), snapshot(1.0, 1, 1, 1, breaker=1))
    assert breaker["llm"]["breaker"] == "open"
    assert any("circuit breaker is open" in problem for problem in breaker["problems"])

    no_nats = assess(
        snapshot(0.0, 1, 1, 1), snapshot(1.0, 1, 1, 1, nats_error="unreachable at 127.0.0.1:4222")
    )
    assert no_nats["problems"][0] == "NATS: unreachable at 127.0.0.1:4222"
    # Without the stream's counts there is no rate, rather than a wrong one.
    assert no_nats["services"]["enricher"]["in_per_s"] is None
    assert no_nats["dead_letters"] is None


def test_ports_are_found_where_aiops_up_starts_the_services() -> None:
    urls = service_urls("127.0.0.1", {"INGEST_PORT": "9000", "ANALYST_HEALTH_PORT": "9002"})
    assert urls == {
        "ingest": "http://127.0.0.1:9000",
        "enricher": "http://127.0.0.1:8001",
        "analyst": "http://127.0.0.1:9002",
        "notifier": "http://127.0.0.1:8003",
        "history": "http://127.0.0.1:8005",
        "console": "http://127.0.0.1:8080",
    }


def test_defaults_are_the_services_own() -> None:
    # Repeated in the CLI so that `aiops status` need not import every service; kept equal here.
    def default(settings_type: type[msgspec.Struct], field: str) -> object:
        return next(f.default for f in msgspec.structs.fields(settings_type) if f.name == field)

    assert {
        "ingest": default(IngestSettings, "ingest_port"),
        "enricher": default(EnricherSettings, "health_port"),
        "analyst": default(AnalystSettings, "health_port"),
        "notifier": default(NotifierSettings, "health_port"),
        "history": default(HistorySettings, "health_port"),
        "console": default(ConsoleSettings, "console_port"),
    } == DEFAULT_PORTS
    assert default(AnalystSettings, "llm_budget_bucket") == BUDGET_BUCKET


def test_a_one_shot_report_shows_the_full_snapshot_and_rates_from_the_counters_read_after_it() -> None:
    full = snapshot(10.0, 100, 90, 80, down=("history",))
    # The second reading holds only counters: the stream's subjects and the COUNTED services' /metrics.
    counters = {name: probe(name, up=False, ready=False) for name in SERVICES}
    counters["notifier"].metrics = parse_metrics(NOTIFIER_METRICS.format(delivered=85))
    later = Snapshot(
        10.5, counters, NatsView(subjects={"alerts.raw": 110, "alerts.analyzed": 95}), took=0.002
    )
    report = assess(full, later, state=full)
    assert report["healthy"] is True  # nothing in the counters' reading says a service is down
    assert report["services"]["enricher"]["in_per_s"] == 20.0
    assert report["services"]["notifier"]["out_per_s"] == 10.0
    assert report["services"]["notifier"]["lag"] == 5
    assert report["dead_letters"] == 2
    assert (report["rate_seconds"], report["took_ms"]) == (0.5, 10.0)


def test_consumers_are_the_runtimes_own() -> None:
    # Repeated in the CLI so that `aiops status` need not import the runtime; kept equal here.
    assert tuple(runtime.CONSUMERS) == CONSUMERS


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"NATS_URL": "nats://a:4222, nats://user:pw@b:4222", "NATS_CREDS": "/etc/x.creds", "NATS_TOKEN": "t"},
    ],
)
def test_status_connects_as_every_service_does(env: dict[str, str]) -> None:
    settings = runtime.load(runtime.NatsSettings, env)
    assert connection_options(env, "aiops-cli-status") == nats_options(settings, "aiops-cli-status")


def imported_by_status(nats_url: str) -> list[str]:
    """Which of the slow imports loading `aiops status`'s modules pulls in, in a fresh interpreter."""
    slow = ("aiohttp", "services.runtime", "loguru")
    code = (
        "import sys, orjson; import services.cli, services.cli._status_command, services.cli._status_nats; "
        f"print(orjson.dumps([m for m in {slow!r} if m in sys.modules]).decode())"
    )
    env = {**os.environ, "NATS_URL": nats_url}
    answer = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, check=True, timeout=60
    )
    return list(orjson.loads(answer.stdout))


def test_status_imports_neither_aiohttp_nor_the_runtime_unless_nats_is_reached_over_websockets() -> None:
    # aiohttp's import alone is a third of `aiops status`'s second; nats-py needs it for ws:// only.
    assert imported_by_status("nats://127.0.0.1:4222") == []
    assert "aiohttp" in imported_by_status("ws://127.0.0.1:8080")


def test_what_the_notifier_only_logged_is_named_so_on_the_screen() -> None:
    report = assess(snapshot(10.0, 100, 90, 80), snapshot(12.0, 140, 110, 100))
    report["destinations"]["-"] = {"logged": 6}
    report["answered_ms"] = 12.0  # added by the command, which timed the asking
    console = Console(record=True, width=100)
    console.print(render(report))
    screen = console.export_text()
    assert "other outcomes" in screen
    logged = next(line for line in screen.splitlines() if "logged 6" in line)
    assert logged.split()[:2] == ["(log", "only)"]
