"""A real Prometheus fires a rule, a real Alertmanager delivers it with bearer auth, Slack hears about it.

The only fake is Slack. The metric the rule watches comes from a tiny exporter the test serves, so the
test decides when the alert fires and when it resolves. Prometheus and Alertmanager run on the
repository's own configs, rendered for localhost by ``infra.local`` and tightened to one-second intervals.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
import yaml
from aiohttp import web

import schemas
from infra.local import Child, LocalPorts, render_alertmanager, render_prometheus, stop
from infra.local.stack import launch
from tests.fakes.slack import FakeSlack
from tests.support.nats_server import NatsServer, free_port
from tests.support.services import running_pipeline
from tests.support.stream import read_subject

INFRA = Path(__file__).resolve().parents[2] / "infra"
TOKEN = "e2e-bearer-token-4c1d"
ALERT = "CheckoutErrorBudgetBurn"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not all(shutil.which(binary) for binary in ("prometheus", "promtool", "prometheus-alertmanager")),
        reason="needs Debian's prometheus, promtool and prometheus-alertmanager on PATH "
        "(sudo apt-get install prometheus prometheus-alertmanager)",
    ),
]

RULES = {
    "groups": [
        {
            "name": "e2e",
            "rules": [
                {
                    "alert": ALERT,
                    "expr": "checkout_error_ratio > 0.05",
                    "labels": {"severity": "critical", "service": "checkout"},
                    "annotations": {
                        "summary": "checkout fails {{ $value | humanizePercentage }} of requests",
                        "description": "5xx ratio of the checkout service above 5%",
                    },
                }
            ],
        }
    ]
}


@dataclass
class Exporter:
    """A Prometheus target whose one gauge the test sets."""

    port: int = 0
    error_ratio: float = 0.2

    async def metrics(self, _: web.Request) -> web.Response:
        text = (
            "# TYPE checkout_error_ratio gauge\n"
            f'checkout_error_ratio{{service="checkout"}} {self.error_ratio}\n'
        )
        return web.Response(text=text, content_type="text/plain")


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    served = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", served.metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    served.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", served.port).start()
    yield served
    await runner.cleanup()


@contextlib.asynccontextmanager
async def pipeline(nats_url: str, prometheus_port: int, slack_url: str) -> AsyncIterator[LocalPorts]:
    """The four services in-process; yields where each one listens, as Prometheus should scrape them."""
    stages = {
        "prometheus_url": f"http://127.0.0.1:{prometheus_port}",
        "time_window_minutes": "1",
        "slack_webhook_url": slack_url,
        "retry_backoff_seconds": "0.2",
    }
    async with running_pipeline(nats_url, ingest={"ingest_auth_token": TOKEN}, stages=stages) as running:
        yield LocalPorts(prometheus=prometheus_port, alertmanager=free_port(), **running.ports)


def write_configs(data_dir: Path, ports: LocalPorts, exporter_port: int) -> tuple[Path, Path]:
    """The repository's configs for localhost, with one-second cycles and the test's rule only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    token_file = data_dir / "ingest_token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    rules_file = data_dir / "e2e-rules.yml"
    rules_file.write_text(yaml.safe_dump(RULES))

    prometheus = render_prometheus(
        yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text()),
        ports,
        INFRA / "prometheus" / "rules",
    )
    prometheus["global"].update(scrape_interval="1s", evaluation_interval="1s")
    # The shipped rules carry `for:` clauses of minutes; only the test's rule can fire in time.
    prometheus["rule_files"] = [str(rules_file)]
    prometheus["scrape_configs"].append(
        {"job_name": "checkout", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
    )
    alertmanager = render_alertmanager(
        yaml.safe_load((INFRA / "alertmanager" / "alertmanager.yml").read_text()), ports, token_file, "1s"
    )
    alertmanager["route"]["group_interval"] = "1s"

    prometheus_file, alertmanager_file = data_dir / "prometheus.yml", data_dir / "alertmanager.yml"
    prometheus_file.write_text(yaml.safe_dump(prometheus, sort_keys=False))
    alertmanager_file.write_text(yaml.safe_dump(alertmanager, sort_keys=False))
    return prometheus_file, alertmanager_file


@contextlib.asynccontextmanager
async def monitoring(data_dir: Path, ports: LocalPorts, exporter_port: int) -> AsyncIterator[None]:
    prometheus_file, alertmanager_file = write_configs(data_dir, ports, exporter_port)
    children: list[Child] = await asyncio.to_thread(
        launch, prometheus_file, alertmanager_file, data_dir, ports, 30.0
    )
    try:
        yield
    finally:
        await asyncio.to_thread(stop, children)


def _alert_names(body: bytes) -> bool:
    return ALERT in body.decode()


@pytest.mark.timeout(90)
async def test_a_firing_rule_reaches_slack_analysed_and_its_resolution_follows(
    nats_server: NatsServer, exporter: Exporter, slack: FakeSlack, tmp_path: Path
) -> None:
    prometheus_port = free_port()
    async with (
        pipeline(nats_server.url, prometheus_port, slack.url) as ports,
        monitoring(tmp_path / "stack", ports, exporter.port),
    ):
        firing = (await slack.wait_for(1, within=45))[0]
        assert _alert_names(firing.body), firing.body.decode()
        assert "resolved" not in firing.body.decode().lower()

        exporter.error_ratio = 0.0
        resolved = (await slack.wait_for(2, within=30))[1]
        assert _alert_names(resolved.body), resolved.body.decode()
        assert "resolved" in resolved.body.decode().lower()

        nc = await nats.connect(nats_server.url)
        try:
            analyzed = await read_subject(nc.jetstream(), schemas.ANALYZED, schemas.AnalyzedAlert, count=2)
        finally:
            await nc.close()

    assert all(post.reply.status == 200 for post in slack.received[:2])
    first, last = analyzed
    assert (first.alert.status, last.alert.status) == ("firing", "resolved")
    assert first.alert.labels["alertname"] == ALERT
    # The alert came through Alertmanager from Prometheus, not from a hand-made payload.
    assert first.source == "alertmanager"
    assert first.group.receiver == "aiops-pipeline"
    assert f"127.0.0.1:{prometheus_port}" in first.alert.generator_url
    # The enricher ran the alert's own expression (from generatorURL) against that same Prometheus.
    # Whether samples come back depends on its 15 s step alignment versus a seconds-old series, so
    # only the query and the absence of an error are asserted.
    assert "checkout_error_ratio" in [m.query for m in first.evidence.metrics]
    assert not [e for e in first.evidence.errors if e.source == "prometheus"], first.evidence.errors
    assert first.analysis.summary
    assert first.analysis.remediation
