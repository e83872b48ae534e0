"""Hostile input against a running ingest process: fuzzed bodies, slow and cut bodies, bad tokens.

Every answer is 2xx or 4xx with a JSON reason, the process stays healthy, only valid alerts reach
alerts.raw, and no credential ever appears in its log.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults._hostile import bodies, content_types, manual_shaped, webhook_shaped
from tests.faults._report import NOTES
from tests.faults._tally import jetstream, raw_ids
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.webhooks import webhook

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("FAULTS_FUZZ_EXAMPLES", "1500"))
TOKEN = "tok-5f3a9c1e8d7b2a46"
BASIC = "aiops:pw-0b9e7d6c5a4f3e21"
MAX_BODY = 256 * 1024
BODY_TIMEOUT = 1.0


@pytest.fixture
async def ingest(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    env = {
        "NATS_URL": nats_server.url,
        "INGEST_AUTH_TOKEN": TOKEN,
        "INGEST_BASIC_AUTH": BASIC,
        "INGEST_MAX_BODY_BYTES": str(MAX_BODY),
        "INGEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        # Everything the service could say, so a leak has every chance to show.
        "LOG_LEVEL": "DEBUG",
    }
    process = ServiceProcess("ingest", env, tmp_path).start()
    try:
        await process.wait_ready()
        yield process
    finally:
        process.stop()


class Client:
    """A plain blocking HTTP client: hypothesis drives it from a worker thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.statuses: Counter[int] = Counter()

    def post(
        self, path: str, body: bytes, content_type: str, auth: str | None = f"Bearer {TOKEN}"
    ) -> dict[str, object]:
        headers = {"Content-Type": content_type} if content_type else {}
        if auth is not None:
            headers["Authorization"] = auth
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            status, raw = response.status, response.read()
        except (ConnectionResetError, BrokenPipeError):
            # An oversized body may be refused before it is fully sent; the answer was still sent.
            self.statuses[413] += 1
            return {"error": "connection closed while sending an oversized body"}
        finally:
            connection.close()
        self.statuses[status] += 1
        assert 200 <= status < 300 or 400 <= status < 500, (status, raw[:300])
        answer = orjson.loads(raw)
        assert isinstance(answer, dict), raw[:300]
        if status >= 400:
            assert isinstance(answer.get("error"), str), answer
            assert answer["error"], answer
        return answer

    def fuzz(self, path: str, shaped: st.SearchStrategy[dict[str, object]]) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(body=bodies(shaped, MAX_BODY), content_type=content_types)
        def one(body: bytes, content_type: str) -> None:
            self.post(path, body, content_type)

        one()


async def healthy(process: ServiceProcess) -> None:
    assert process.alive(), process.log()[-2000:]
    await process.wait_ready(within=5)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("path", "shaped"),
    [("/webhook/alertmanager", webhook_shaped), ("/analyze", manual_shaped)],
    ids=["webhook", "analyze"],
)
async def test_fuzzed_bodies_get_2xx_or_4xx_with_a_reason_and_only_valid_alerts_are_stored(
    ingest: ServiceProcess, nats_server: NatsServer, path: str, shaped: st.SearchStrategy[dict[str, object]]
) -> None:
    client = Client(ingest.port)
    await asyncio.to_thread(client.fuzz, path, shaped)
    await healthy(ingest)
    # Still serving real work afterwards.
    answer = await asyncio.to_thread(
        client.post, "/webhook/alertmanager", webhook("after-fuzz", 0, 2), "application/json"
    )
    assert answer["accepted"] == 2
    async with jetstream(nats_server.url) as js:
        # raw_ids decodes every message on alerts.raw as a RawAlert: anything else fails here.
        stored = await raw_ids(js)
    ids = answer["ids"]
    assert isinstance(ids, list)
    assert set(ids) <= stored
    assert sum(client.statuses.values()) >= EXAMPLES
    assert any(400 <= code < 500 for code in client.statuses), client.statuses
    answers = ", ".join(f"{code}: {n}" for code, n in sorted(client.statuses.items()))
    NOTES.append(f"fuzz {path}: {sum(client.statuses.values())} requests ({answers}); "
                 f"{len(stored)} messages on alerts.raw, every one a valid RawAlert")  # fmt: skip


async def _slow_request(port: int, body_sent: bytes, length: int, drip: bool, close: bool) -> bytes:
    """Announce ``length`` bytes, send only some (or drip them), and read what the server says."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {length}\r\n\r\n"
    )
    writer.write(head.encode())
    try:
        if drip:
            for byte in body_sent:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)  # the attack itself: one byte at a time
        else:
            writer.write(body_sent)
            await writer.drain()
        if close:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(4096), timeout=BODY_TIMEOUT + 10)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


@pytest.mark.timeout(60)
async def test_slow_and_truncated_bodies_time_out_without_tying_up_the_server(ingest: ServiceProcess) -> None:
    body = webhook("slow", 0, 1)
    slow = [_slow_request(ingest.port, body[:40], len(body), drip=True, close=False) for _ in range(20)]
    stalled = [_slow_request(ingest.port, body[:10], len(body), drip=False, close=False) for _ in range(20)]
    cut = [_slow_request(ingest.port, body[:10], len(body), drip=False, close=True) for _ in range(20)]
    attacks = asyncio.gather(*slow, *stalled, *cut)

    # Meanwhile, real senders are served at once.
    client = Client(ingest.port)
    for i in range(5):
        started = time.monotonic()
        answer = await asyncio.to_thread(
            client.post, "/webhook/alertmanager", webhook("while-slow", i, 1), "application/json"
        )
        assert answer["accepted"] == 1
        assert time.monotonic() - started < BODY_TIMEOUT, "a real request waited behind the slow ones"

    replies = await attacks
    for reply in replies[:40]:
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"not received in time" in reply
    for reply in replies[40:]:
        # The sender hung up mid-body: whatever the server says, it is not a success.
        assert not reply.startswith(b"HTTP/1.1 2"), reply[:200]
    NOTES.append("slow bodies: 20 dripping, 20 stalled -> 408 after the body timeout; 20 cut -> no success; "
                 "real requests meanwhile answered under the timeout")  # fmt: skip
    await healthy(ingest)


def near_misses(token: str) -> Iterator[str | None]:
    user, _, password = BASIC.partition(":")
    yield None  # no Authorization header at all
    yield ""
    yield "Bearer"
    yield "Bearer "
    yield f"Bearer {token[:-1]}"
    yield f"Bearer {token}x"
    yield f"Bearer {token[:-1]}{chr(ord(token[-1]) + 1)}"
    yield f"Bearer {token.upper()}"
    yield f"Bearer  {token}extra"
    yield f"Token {token}"
    yield f"Basic {token}"
    yield token
    yield f"Bearer Bearer {token}"
    yield f"Bearer {base64.b64encode(token.encode()).decode()}"
    yield f"Basic {base64.b64encode(f'{user}:{password[:-1]}'.encode()).decode()}"
    yield f"Basic {base64.b64encode(f'{user}x:{password}'.encode()).decode()}"
    yield f"Basic {base64.b64encode(password.encode()).decode()}"
    yield f"Basic {BASIC}"
    yield "Basic !!!not-base64!!!"


@pytest.mark.timeout(60)
async def test_wrong_missing_and_near_miss_credentials_get_401_and_no_credential_is_logged(
    ingest: ServiceProcess,
) -> None:
    client = Client(ingest.port)
    body = webhook("auth", 0, 1)
    tried = list(near_misses(TOKEN))
    for path in ("/webhook/alertmanager", "/webhook/alerts", "/analyze"):
        for auth in tried:
            answer = await asyncio.to_thread(client.post, path, body, "application/json", auth)
            assert "credentials" in str(answer.get("error")), (path, auth, answer)
    assert client.statuses == Counter({401: 3 * len(tried)}), client.statuses
    # The right ones do work, both ways.
    basic = f"Basic {base64.b64encode(BASIC.encode()).decode()}"
    assert (await asyncio.to_thread(client.post, "/webhook/alertmanager", body, "application/json", basic))[
        "accepted"
    ] == 1
    assert (await asyncio.to_thread(client.post, "/webhook/alertmanager", body, "application/json"))[
        "accepted"
    ] == 1

    ingest.stop()  # flush and close the log
    log = ingest.log()
    assert "starting with" in log, "the log was not captured"
    secrets = {TOKEN, BASIC, BASIC.partition(":")[2], base64.b64encode(BASIC.encode()).decode()}
    secrets |= {auth.split(" ")[-1] for auth in tried if auth and len(auth.split(" ")[-1]) >= 8}
    leaked = sorted(s for s in secrets if s in log)
    assert not leaked, f"credentials in the ingest log: {leaked}"
    NOTES.append(f"auth: {len(tried)} wrong, missing and near-miss credentials x 3 paths -> 401; "
                 f"no credential in {len(log.splitlines())} log lines (LOG_LEVEL=DEBUG)")  # fmt: skip
