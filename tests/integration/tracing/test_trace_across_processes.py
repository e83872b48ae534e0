"""One trace per alert, from the webhook through the enricher, analyst and notifier to the post.

The four services run as separate processes (as systemd or Kubernetes runs them) and export
their spans over OTLP/HTTP to a local collector that keeps them; the W3C trace context has
only the NATS headers and the notifier's post to travel by.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from services.runtime import tracing_enabled
from tests.fakes.loki import FakeLoki
from tests.fakes.otlp import FakeCollector, Span
from tests.fakes.webhook import FakeWebhook
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.services import running_pipeline
from tests.support.webhooks import webhook

ALERTS = 4
STAGES = ("enricher", "analyst", "notifier")
# A sender's own trace (Alertmanager with tracing on): ingest continues it instead of starting one.
SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    fake = await FakeCollector().start()
    yield fake
    await fake.close()


async def post_alert(url: str, run: str, number: int, traceparent: str | None = None) -> str:
    headers = {"Content-Type": "application/json"}
    if traceparent is not None:
        headers["traceparent"] = traceparent
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhook/alertmanager", data=webhook(run, number, 1), headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        (alert_id,) = (await response.json())["ids"]
        return str(alert_id)


def complete(traces: dict[str, list[Span]]) -> bool:
    """Every trace holds the webhook's span, one span per stage and the notifier's post."""
    wanted = {"POST /webhook/alertmanager", *STAGES, "POST"}
    return len(traces) >= ALERTS and all(wanted <= {s.name for s in spans} for spans in traces.values())


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    return traces


async def test_each_alert_is_one_trace_across_the_four_processes(
    nats_server: NatsServer, collector: FakeCollector, webhook: FakeWebhook, tmp_path: Path
) -> None:
    env = {
        "NATS_URL": nats_server.url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the collector soon after they end
        "LOG_LEVEL": "INFO",
        "GENERIC_WEBHOOK_URL": webhook.url,
    }
    processes = [ServiceProcess(name, env, tmp_path) for name in ("ingest", *STAGES)]
    # With a log source the enricher handles each message in a task of its own (and logs what it
    # found); the rules analyst takes whole batches inline: both ways of handling are traced.
    async with FakeLoki() as loki:
        processes[1].env["LOKI_URL"] = loki.url
        try:
            for process in processes:
                process.start()
            for process in processes:
                await process.wait_ready()
            ingest = processes[0]
            alert_ids = [await post_alert(ingest.url, "traced", n) for n in range(ALERTS - 1)]
            sender = f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"
            alert_ids.append(await post_alert(ingest.url, "traced", ALERTS, traceparent=sender))
            await webhook.wait_for(ALERTS, within=30)
            spans = await collector.wait_until(
                lambda spans: complete(by_trace(spans)), 30, f"{ALERTS} complete traces"
            )
        finally:
            for process in processes:
                process.stop()

    traces = by_trace(spans)
    assert len(traces) == ALERTS, sorted((t, [s.name for s in ss]) for t, ss in traces.items())
    traced_alerts = set()
    for trace_id, trace in traces.items():
        named = {span.name: span for span in trace}
        assert sorted(span.name for span in trace) == sorted(named), f"a span twice in {trace_id}"
        server, post = named["POST /webhook/alertmanager"], named["POST"]
        enricher, analyst, notifier = (named[stage] for stage in STAGES)
        # Parent and child, hop by hop, each span from the process that did the work.
        assert (enricher.parent_id, analyst.parent_id) == (server.span_id, enricher.span_id)
        assert (notifier.parent_id, post.parent_id) == (analyst.span_id, notifier.span_id)
        services = [s.service for s in (server, enricher, analyst, notifier, post)]
        assert services == [f"aiops-{name}" for name in ("ingest", *STAGES, "notifier")]
        assert (server.kind, enricher.kind, post.kind) == ("server", "consumer", "client")
        assert not any(span.error for span in trace)
        traced_alerts.add(enricher.attributes["messaging.message.id"])
        if trace_id == SENDER_TRACE:
            assert server.parent_id == SENDER_SPAN
        else:
            assert server.parent_id == ""
        # The post carries the context on to whoever receives it.
        (received,) = [r for r in webhook.received if r.headers["traceparent"].split("-")[1] == trace_id]
        version, _, parent, flags = received.headers["traceparent"].split("-")
        assert (version, parent, int(flags, 16) & 1) == ("00", post.span_id, 1)  # 1: sampled
    assert traced_alerts == set(alert_ids)
    assert SENDER_TRACE in traces

    # The log lines written while handling an alert name its trace (the analyst writes none).
    logs = {process.name: process.log() for process in processes}
    for trace_id, trace in traces.items():
        alert_id = next(s for s in trace if s.name == "enricher").attributes["messaging.message.id"]
        stored = [line for line in logs["ingest"].splitlines() if line.endswith(f": {alert_id}")]
        assert stored, f"no ingest log line for {alert_id}"
        assert all(f" {trace_id} " in line for line in stored), stored
        for stage in ("enricher", "notifier"):
            lines = [line for line in logs[stage].splitlines() if f" {alert_id} " in line]
            assert lines, f"no {stage} log line for {alert_id}"
            assert all(f" {alert_id} {trace_id} " in line for line in lines), lines


async def test_with_tracing_off_nothing_is_traced_or_added(
    nats_server: NatsServer, webhook: FakeWebhook
) -> None:
    """No OTLP endpoint (these stages run in the test's process, which never set tracing up)."""
    assert not tracing_enabled()
    async with running_pipeline(nats_server.url, stages={"generic_webhook_url": webhook.url}) as pipeline:
        alert_id = await post_alert(
            pipeline.url, "untraced", 0, traceparent=f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"
        )
        (received,) = await webhook.wait_for(1, within=30)
    assert received.headers["X-Aiops-Alert-Id"] == alert_id
    assert not any(key.lower() in ("traceparent", "tracestate") for key in received.headers)
