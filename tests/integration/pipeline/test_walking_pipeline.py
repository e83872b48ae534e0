"""All four services on a real nats-server: a webhook in, a Slack message out, one per alert."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson

import schemas
from tests.fakes.slack import FakeSlack
from tests.fakes.webhook import FakeWebhook
from tests.support.nats_server import NatsServer
from tests.support.services import Pipeline, running_pipeline
from tests.support.stream import read_subject, subject_count

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"


def pipeline(url: str, **env: str) -> contextlib.AbstractAsyncContextManager[Pipeline]:
    return running_pipeline(url, ingest=env, stages={"retry_backoff_seconds": "0.1", **env})


async def post(url: str, body: bytes) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Content-Type": "application/json"}) as response,
    ):
        return response.status, orjson.loads(await response.read())


async def test_alertmanager_webhook_to_slack_and_webhook(
    nats_server: NatsServer, slack: FakeSlack, webhook: FakeWebhook
) -> None:
    destinations = {"slack_webhook_url": slack.url, "generic_webhook_url": webhook.url}
    async with pipeline(nats_server.url, **destinations) as running:
        url = running.url
        status, body = await post(
            f"{url}/webhook/alertmanager", (FIXTURES / "firing_two_alerts.json").read_bytes()
        )
        assert status == 200
        posts = await slack.wait_for(2, within=30)
        delivered = await webhook.wait_for(2, within=30)
        nc = await nats.connect(nats_server.url)
        analyzed = await read_subject(nc.jetstream(), schemas.ANALYZED, schemas.AnalyzedAlert, count=2)
        await nc.close()
    texts = [p.body.decode() for p in posts]
    assert any("HighCPUUsage" in t for t in texts)
    assert any("DiskSpaceLow" in t for t in texts)
    by_name = {m.alert.labels["alertname"]: m for m in analyzed}
    assert by_name["HighCPUUsage"].analysis.category == "cpu_saturation"
    assert by_name["DiskSpaceLow"].analysis.category == "disk_capacity"
    assert all(m.analysis.analyzer == "rules" and m.analysis.remediation for m in analyzed)
    # No sources configured: the evidence says so instead of failing the alert.
    assert {e.source for e in analyzed[0].evidence.errors} >= {"prometheus", "loki"}
    # The webhook receiver gets the analyzed message itself.
    ids = {schemas.decode(d.body, schemas.AnalyzedAlert).id for d in delivered}
    assert ids == set(body["ids"])


async def test_manual_analysis_waits_for_its_answer(nats_server: NatsServer) -> None:
    manual = orjson.dumps(
        {
            "labels": {
                "alertname": "KubePodCrashLooping",
                "namespace": "shop",
                "pod": "cart-1",
                "severity": "critical",
            },
            "annotations": {
                "description": "Container cart is restarting; last state terminated with OOMKilled"
            },
        }
    )
    async with pipeline(nats_server.url) as running:
        url = running.url
        status, answer = await post(f"{url}/analyze?wait=30", manual)
    assert status == 200
    assert answer["alert"]["labels"]["pod"] == "cart-1"
    assert answer["analysis"]["category"] == "memory_pressure"
    assert answer["source"] == "manual"


async def test_resend_of_an_episode_is_analysed_and_notified_once(
    nats_server: NatsServer, slack: FakeSlack
) -> None:
    firing = (FIXTURES / "firing_two_alerts.json").read_bytes()
    resolved = (FIXTURES / "resolved_one_alert.json").read_bytes()
    # One message at a time per stage, so processing order is arrival order.
    async with pipeline(nats_server.url, slack_webhook_url=slack.url, max_in_flight="1") as running:
        url = running.url
        await post(f"{url}/webhook/alertmanager", firing)
        await slack.wait_for(2, within=30)
        await post(f"{url}/webhook/alertmanager", firing)
        # Once the later resolution is posted, a duplicate would have been too.
        await post(f"{url}/webhook/alertmanager", resolved)
        posts = await slack.wait_for(3, within=30)
        nc = await nats.connect(nats_server.url)
        assert await subject_count(nc.jetstream(), schemas.ANALYZED) == 3
        await nc.close()
    assert len(posts) == 3
    assert "resolved" in posts[2].body.decode().lower()
