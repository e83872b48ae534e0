"""Refusals as a sender meets them over a real socket: a JSON reason with the status, and counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from services.ingest import IngestSettings
from tests.support.nats_server import NatsServer
from tests.support.services import running_ingest, settings_for

BODY_TIMEOUT_SECONDS = 0.5


@pytest.fixture
async def ingest(nats_server: NatsServer) -> AsyncIterator[str]:
    settings = settings_for(IngestSettings, nats_server.url, ingest_body_timeout_seconds=BODY_TIMEOUT_SECONDS)
    async with running_ingest(settings) as url:
        yield url


async def answer(
    method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, data=data, headers=headers) as response,
    ):
        return response.status, orjson.loads(await response.read())


async def test_unknown_paths_and_methods_answer_json_like_every_other_refusal(ingest: str) -> None:
    assert await answer("POST", f"{ingest}/webhook/nowhere", data=b"{}") == (404, {"error": "Not Found"})
    status, body = await answer("GET", f"{ingest}/webhook/alertmanager")
    assert (status, body) == (405, {"error": "Method Not Allowed"})


async def test_a_body_that_stalls_is_refused_with_408_instead_of_holding_the_connection(ingest: str) -> None:
    host, port = ingest.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /webhook/alertmanager HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"status": '
        )
        await writer.drain()
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS + 10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
                ).split(b":")[1]
            )
            body = await reader.readexactly(length)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 408")
    assert orjson.loads(body) == {"error": "request body not received in time"}


async def test_refusals_are_counted_by_path_and_status(ingest: str) -> None:
    await answer(
        "POST",
        f"{ingest}/webhook/alertmanager",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    await answer("POST", f"{ingest}/analyze", data=b"{}", headers={"Content-Type": "text/plain"})
    async with aiohttp.ClientSession() as http, http.get(f"{ingest}/metrics") as response:
        metrics = await response.text()
    assert 'aiops_ingest_requests_total{code="400",path="/webhook/alertmanager"} 1.0' in metrics
    assert 'aiops_ingest_requests_total{code="415",path="/analyze"} 1.0' in metrics
