"""Stream and consumers as code: provisioned idempotently, and the JSON in infra/nats matches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats

import schemas
from services.cli._nats_config import nats_config_documents
from services.runtime import CONSUMERS, StageSettings, load, provision
from tests.support.nats_server import NatsServer

REPO = Path(__file__).resolve().parents[3]


async def test_provisioning_is_idempotent_and_updates_what_may_change(nats_container_or_binary: Any) -> None:
    nc = await nats.connect(nats_container_or_binary.url)
    js = nc.jetstream()
    try:
        await provision(js, load(StageSettings, {}))
        await provision(js, load(StageSettings, {}))  # a second replica starting
        info = await js.stream_info(schemas.STREAM)
        assert info.config.max_age == 7 * 24 * 3600
        assert info.config.duplicate_window == 600
        await provision(js, load(StageSettings, {"STREAM_MAX_AGE_HOURS": "24"}))
        assert (await js.stream_info(schemas.STREAM)).config.max_age == 24 * 3600
        for name, subject in CONSUMERS.items():
            consumer = await js.consumer_info(schemas.STREAM, name)
            assert consumer.config.filter_subject == subject
            assert consumer.config.ack_policy == "explicit"
    finally:
        await provision(js, load(StageSettings, {}))
        await nc.close()


def test_infra_nats_json_is_what_the_services_provision() -> None:
    for name, document in nats_config_documents().items():
        committed = REPO / "infra" / "nats" / name
        assert committed.exists(), f"{committed} missing: run `just docs`"
        assert json.loads(committed.read_text()) == json.loads(json.dumps(document)), name


async def test_services_start_before_nats_and_connect_when_it_arrives(tmp_path: Path) -> None:
    """A stage started first keeps retrying; it does not crash (compose and systemd start in any order)."""
    import asyncio

    from services.runtime import connect

    server = NatsServer()
    settings = load(StageSettings, {"NATS_URL": server.url})
    connecting = asyncio.create_task(connect(settings, "early-bird"))
    done, _ = await asyncio.wait({connecting}, timeout=0.5)
    assert not done, "connect gave up while NATS was absent"
    server.start()
    try:
        nc = await asyncio.wait_for(connecting, timeout=15)
        assert nc.is_connected
        await nc.close()
    finally:
        server.close()
