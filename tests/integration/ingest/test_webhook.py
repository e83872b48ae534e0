"""The webhook as Alertmanager and people use it, against a real nats-server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nats
import orjson
import pytest

import schemas
from services.ingest import IngestSettings
from services.runtime import CONSUMERS
from tests.support.nats_server import NatsServer
from tests.support.services import running_ingest, settings_for
from tests.support.stream import read_subject, subject_count

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"
FIRING = (FIXTURES / "firing_two_alerts.json").read_bytes()
RESOLVED = (FIXTURES / "resolved_one_alert.json").read_bytes()
TOKEN = "s3cret-token-value"


@pytest.fixture
async def ingest(nats_server: NatsServer) -> AsyncIterator[str]:
    settings = settings_for(IngestSettings, nats_server.url, ingest_max_body_bytes=64 * 1024)
    async with running_ingest(settings) as url:
        yield url


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, object]]:
    headers.setdefault("Content-Type", "application/json")
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def test_each_alert_becomes_one_raw_message(ingest: str, js: nats.js.JetStreamContext) -> None:
    status, body = await post(f"{ingest}/webhook/alertmanager", FIRING)
    assert status == 200
    assert body["accepted"] == 2
    raw = await read_subject(js, schemas.RAW, schemas.RawAlert, count=2)
    assert {m.alert.labels["alertname"] for m in raw} == {"HighCPUUsage", "DiskSpaceLow"}
    assert all(m.source == "alertmanager" and m.group.receiver == "aiops" for m in raw)
    ids = body["ids"]
    assert isinstance(ids, list)
    assert {m.id for m in raw} == set(ids)


async def test_a_resend_of_the_same_episode_is_stored_once(ingest: str, js: nats.js.JetStreamContext) -> None:
    await post(f"{ingest}/webhook/alertmanager", FIRING)
    status, body = await post(f"{ingest}/webhook/alertmanager", FIRING)
    assert status == 200
    assert body["duplicates"] == 2
    assert await subject_count(js, schemas.RAW) == 2


async def test_the_resolution_is_a_new_message(ingest: str, js: nats.js.JetStreamContext) -> None:
    await post(f"{ingest}/webhook/alertmanager", FIRING)
    status, _ = await post(f"{ingest}/webhook/alertmanager", RESOLVED)
    assert status == 200
    assert await subject_count(js, schemas.RAW) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "invalid JSON"),
        (b'{"hello": "world"}', "application/json", 400, "AlertmanagerWebhook"),
        (b'{"status": "firing", "alerts": []}', "application/json", 400, "no alerts"),
        (
            b'{"status":"firing","alerts":[{"status":"firing","labels":{"x":"1"},"startsAt":"2026-01-01T00:00:00Z"}]}',
            "application/json",
            400,
            "alertname",
        ),
        (b"\xff\xfe\x00garbage", "application/json", 400, "invalid JSON"),
        (FIRING, "text/plain", 415, "application/json"),
        (b"x" * (65 * 1024), "application/json", 413, "larger than"),
    ],
)
async def test_bad_requests_get_a_reason_and_store_nothing(
    ingest: str, js: nats.js.JetStreamContext, body: bytes, content_type: str, status: int, reason: str
) -> None:
    got_status, got = await post(f"{ingest}/webhook/alertmanager", body, **{"Content-Type": content_type})
    assert got_status == status
    assert reason in str(got["error"])
    await js.stream_info(schemas.STREAM)
    assert await subject_count(js, schemas.RAW) == 0


async def test_credentials_are_required_when_configured(nats_server: NatsServer) -> None:
    settings = settings_for(
        IngestSettings, nats_server.url, ingest_auth_token=TOKEN, ingest_basic_auth="am:pa55word"
    )
    async with running_ingest(settings) as url:
        target = f"{url}/webhook/alertmanager"
        basic = base64.b64encode(b"am:pa55word").decode()
        near_basic = base64.b64encode(b"am:pa55worD").decode()
        for header in (
            None,
            "Bearer wrong",
            f"Bearer {TOKEN[:-1]}",
            f"Bearer {TOKEN}x",
            f"Basic {near_basic}",
            "Basic !!notbase64",
            TOKEN,
            f"Token {TOKEN}",
        ):
            headers = {"Authorization": header} if header else {}
            status, body = await post(target, FIRING, **headers)
            assert status == 401, header
            assert TOKEN not in orjson.dumps(body).decode()
        assert (await post(target, FIRING, Authorization=f"Bearer {TOKEN}"))[0] == 200
        assert (await post(target, FIRING, Authorization=f"Basic {basic}"))[0] == 200


async def test_nats_down_answers_503_so_alertmanager_retries(nats_server: NatsServer) -> None:
    settings = settings_for(IngestSettings, nats_server.url, ingest_publish_timeout_seconds=1)
    async with running_ingest(settings) as url:
        nats_server.kill()
        status, body = await post(f"{url}/webhook/alertmanager", FIRING)
        assert status == 503
        assert "error" in body
        async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
            assert response.status == 503


async def test_manual_alert_is_accepted_with_a_fresh_id(ingest: str, js: nats.js.JetStreamContext) -> None:
    manual = orjson.dumps({"labels": {"alertname": "Checkout slow", "service": "checkout"}})
    first = await post(f"{ingest}/analyze", manual)
    second = await post(f"{ingest}/analyze", manual)
    assert first[0] == second[0] == 202
    assert first[1]["id"] != second[1]["id"]
    raw = await read_subject(js, schemas.RAW, schemas.RawAlert, count=2)
    assert {m.source for m in raw} == {"manual"}


async def test_queue_status_reports_consumers_and_dead_letters(ingest: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{ingest}/queue/status") as response:
        assert response.status == 200
        status = await response.json()
    assert set(status["consumers"]) == set(CONSUMERS)  # the companions (incidents, history) included
    assert status["dead_letters"] == 0


async def test_health_ready_and_metrics(ingest: str) -> None:
    await post(f"{ingest}/webhook/alertmanager", FIRING)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ingest}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{ingest}/readyz") as response:
            assert response.status == 200
        async with http.get(f"{ingest}/metrics") as response:
            text = await response.text()
    assert 'aiops_ingest_alerts_total{outcome="stored"} 2.0' in text


async def ingest_subscriptions(nats_server: NatsServer) -> list[str]:
    """What the ingest's connection listens to, as the server's monitoring endpoint reports it."""
    url = f"http://127.0.0.1:{nats_server.monitor_port}/connz?subs=1"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        connz = await response.json()
    return [
        subject
        for connection in connz["connections"]
        if connection.get("name") == "aiops-ingest"
        for subject in connection.get("subscriptions_list", [])
    ]


async def test_analyses_cross_the_ingest_only_while_someone_waits(
    ingest: str, nats_server: NatsServer
) -> None:
    """Every analysis of the pipeline would otherwise be sent to, and parsed by, the ingest for nothing."""
    assert schemas.ANALYZED not in await ingest_subscriptions(nats_server)
    manual = orjson.dumps({"labels": {"alertname": "Waiting"}})
    waiting = asyncio.create_task(post(f"{ingest}/analyze?wait=2", manual))
    async with asyncio.timeout(5):
        while schemas.ANALYZED not in await ingest_subscriptions(nats_server):
            await asyncio.sleep(0.05)
    status, body = await waiting  # no pipeline runs here: the wait ends without an answer
    assert status == 202
    assert "id" in body
    async with asyncio.timeout(5):
        while schemas.ANALYZED in await ingest_subscriptions(nats_server):
            await asyncio.sleep(0.05)
