"""Headers written by the runtime's client, through a real nats-server: JetStream reads the message id
from them, and nats-py's own client and ours read back the same headers."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.msg import Msg

import schemas
from services.runtime import StageSettings, provision
from services.runtime._nats_client import Client
from tests.support.nats_server import NatsServer
from tests.support.services import settings_for

HEADERS = {
    schemas.MSG_ID_HEADER: "wire-1",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": " vendor=a b ",
    "X-Note": "line\r\nbreak caf\u00e9",
}


async def test_jetstream_and_both_clients_read_the_headers_alike(nats_server: NatsServer) -> None:
    ours = Client()
    await ours.connect(nats_server.url)
    stock = await nats.connect(nats_server.url)
    try:
        await provision(ours.jetstream(), settings_for(StageSettings, nats_server.url))
        received: dict[str, asyncio.Queue[Msg]] = {"ours": asyncio.Queue(), "stock": asyncio.Queue()}
        await ours.subscribe("alerts.raw", cb=received["ours"].put)
        await stock.subscribe("alerts.raw", cb=received["stock"].put)
        await ours.flush()
        await stock.flush()

        js = ours.jetstream()
        first = await js.publish(schemas.RAW, b"{}", headers=HEADERS)
        again = await js.publish(schemas.RAW, b"{}", headers=HEADERS)
        assert not first.duplicate
        assert again.duplicate  # the server found our Nats-Msg-Id

        expected = {**HEADERS, "tracestate": "vendor=a b", "X-Note": "line  break caf\u00e9"}
        for queue in received.values():
            msg = await asyncio.wait_for(queue.get(), 5)
            assert msg.headers == expected
    finally:
        await ours.close()
        await stock.close()
