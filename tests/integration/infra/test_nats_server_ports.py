"""The tests' nats-server starts even when the port it picked is taken before it binds it: the suite's
servers, its services and other processes all pick ports at once (a CI run once failed on one)."""

from __future__ import annotations

import socket

import nats
import pytest

from tests.support.nats_server import NatsServer


async def test_a_server_whose_picked_port_was_taken_meanwhile_starts_on_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = NatsServer()
        server.port = taken.getsockname()[1]  # as if another process bound it after it was picked
        server.start()
        try:
            assert server.port != taken.getsockname()[1]
            nc = await nats.connect(server.url)
            assert nc.is_connected
            await nc.close()
        finally:
            server.close()


def test_a_server_given_its_port_does_not_move_from_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = NatsServer(port=taken.getsockname()[1])
        try:
            with pytest.raises(RuntimeError, match="address already in use"):
                server.start()
        finally:
            server.close()
