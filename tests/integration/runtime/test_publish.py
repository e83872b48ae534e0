"""Publishing with acks as futures, against a real nats-server: stored, refused, duplicate, unanswered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

import schemas
from services.runtime import MessageTooLarge, PubAck, Publisher, PublishFailed, StageSettings, provision
from tests.support.nats_server import NatsServer
from tests.support.services import settings_for


@pytest.fixture
async def publisher(nats_server: NatsServer) -> AsyncIterator[Publisher]:
    client = await nats.connect(nats_server.url)
    await provision(client.jetstream(), settings_for(StageSettings, nats_server.url))
    publisher = Publisher(client)
    await publisher.start()
    yield publisher
    await publisher.close()
    await client.close()


async def test_each_publish_gets_its_own_ack_and_a_repeat_is_marked_duplicate(publisher: Publisher) -> None:
    futures = [
        await publisher.publish(schemas.RAW, b"{}", {schemas.MSG_ID_HEADER: f"p-{n}"}) for n in range(5)
    ]
    futures.append(await publisher.publish(schemas.RAW, b"{}", {schemas.MSG_ID_HEADER: "p-0"}))
    acks = await publisher.wait_all(futures, 5)
    assert all(isinstance(ack, PubAck) for ack in acks)
    stored = [ack for ack in acks if isinstance(ack, PubAck)]
    assert [ack.duplicate for ack in stored] == [False] * 5 + [True]
    assert stored[-1].seq == stored[0].seq  # the repeat names the message already stored
    assert len({ack.seq for ack in stored[:5]}) == 5
    assert publisher.waiting == {}


async def test_a_subject_no_stream_stores_fails_at_once(publisher: Publisher) -> None:
    with pytest.raises(PublishFailed, match="no stream"):
        await publisher.publish_and_wait("nowhere.at.all", b"{}", {}, within=5)


async def test_a_refusal_by_jetstream_carries_its_reason(publisher: Publisher) -> None:
    headers = {schemas.MSG_ID_HEADER: "refused", "Nats-Expected-Stream": "SOME_OTHER_STREAM"}
    with pytest.raises(PublishFailed, match="expected stream"):
        await publisher.publish_and_wait(schemas.RAW, b"{}", headers, within=5)


async def test_an_unanswered_publish_times_out_and_is_forgotten(publisher: Publisher) -> None:
    # A plain subscriber takes the message and never answers, as a stalled server would not.
    listener: Client = publisher.nc
    await listener.subscribe("silent.subject", cb=_ignore)
    future = await publisher.publish("silent.subject", b"{}", {})
    [answer] = await publisher.wait_all([future], within=0.3)
    assert isinstance(answer, TimeoutError)
    assert publisher.waiting == {}


async def _ignore(_: object) -> None:
    return None


async def test_headers_that_tip_a_message_over_the_servers_limit_are_refused_and_the_connection_stays(
    publisher: Publisher,
) -> None:
    limit = publisher.nc.max_payload
    # nats-py checks the payload alone; the server counts the headers too, and cuts the connection.
    headers = {schemas.MSG_ID_HEADER: "x" * 100}
    with pytest.raises(MessageTooLarge, match="max_payload") as refused:
        await publisher.publish(schemas.RAW, b"a" * (limit - 10), headers)
    assert refused.value.size > limit
    assert refused.value.error_type == "too_large"  # a dead letter at once, not a retry
    ack = await publisher.publish_and_wait(schemas.RAW, b"{}", {schemas.MSG_ID_HEADER: "after"}, within=5)
    assert publisher.nc.is_connected
    assert ack.seq == 1


async def test_a_message_exactly_at_the_servers_limit_is_stored_and_one_byte_more_is_refused(
    publisher: Publisher,
) -> None:
    limit = publisher.nc.max_payload
    headers = {schemas.MSG_ID_HEADER: "exact"}
    # The header block as the server counts it: "NATS/1.0\r\n", "Nats-Msg-Id: exact\r\n", "\r\n".
    header_block = len(b"NATS/1.0\r\n") + len(b"Nats-Msg-Id: exact\r\n") + len(b"\r\n")
    fits = b"a" * (limit - header_block)
    ack = await publisher.publish_and_wait(schemas.RAW, fits, headers, within=10)
    with pytest.raises(MessageTooLarge):
        await publisher.publish(schemas.RAW, fits + b"a", {schemas.MSG_ID_HEADER: "exact"})
    assert ack.seq == 1
    assert publisher.nc.is_connected
