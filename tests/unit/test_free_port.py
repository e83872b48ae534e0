"""The test support's free ports: a test's servers never get one port twice."""

from __future__ import annotations

import socket

from tests.support.nats_server import free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    # The kernel gives a closed socket's port to a later bind(0) within a few hundred binds; a cluster
    # handed one port twice (a node's clients and monitoring) had a node that could not start.
    ports = [free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)


def test_a_handed_out_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
