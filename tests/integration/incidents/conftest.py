"""A JetStream connection with the pipeline provisioned, and an incident store and log on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import nats
import pytest
from nats.js import JetStreamContext

from services.incidents import IncidentSettings, IncidentStore, Journal
from services.runtime import provision
from tests.integration.incidents._storm import incident_settings
from tests.support.nats_server import NatsServer


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await provision(js, incident_settings(nats_server.url))
    yield js
    await nc.close()


@pytest.fixture
async def store(js: JetStreamContext, nats_server: NatsServer) -> IncidentStore:
    return await IncidentStore.open(js, "test-incidents", incident_settings(nats_server.url))


@pytest.fixture
async def journal(js: JetStreamContext, nats_server: NatsServer) -> AsyncIterator[Journal]:
    opened = await open_journal(js, nats_server)
    yield opened
    await opened.close()


async def open_journal(js: JetStreamContext, nats_server: NatsServer) -> Journal:
    """The log of the store's bucket as a replica started now reads it."""
    reopen = timedelta(seconds=IncidentSettings().incident_reopen_seconds)
    journal = await Journal.open(js, "test-incidents", incident_settings(nats_server.url), reopen)
    await asyncio.wait_for(journal.until_ready(), 30)
    return journal
