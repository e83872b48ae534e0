"""The analyst with incidents on and an LLM, against a real nats-server and the fake chat-completions
server: a storm costs one LLM call, made for its incident, whose opening event carries that analysis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

import schemas
from services.analyst import SPEC
from services.runtime import provision
from tests.fakes.llm import DEFAULT_ANSWER, FakeLlm
from tests.integration.incidents._storm import NODE, incident_settings, node_storm, publish
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage
from tests.support.stream import caught_up, read_subject


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def test_a_storm_gets_one_llm_call_and_its_opening_event_carries_that_analysis(
    nats_server: NatsServer, js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    settings = incident_settings(
        nats_server.url,
        llm_api_key="sk-test-not-a-secret",
        llm_base_url=fake_llm.url,
        llm_retry_base_seconds=0.01,
    )
    await provision(js, settings)
    storm = node_storm(30)
    async with running_stage(SPEC, settings):
        await publish(js, storm)
        analyzed = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(storm))
        (opened,) = await read_subject(
            js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=1, timeout=20
        )
        await caught_up(js, "incidents")

    # Per alert, the rules answer; the LLM is called once, for the incident.
    assert {message.analysis.analyzer for message in analyzed} == {"rules"}
    assert fake_llm.calls == 1
    analysis = opened.incident.analysis
    assert analysis is not None
    assert (analysis.analyzer, analysis.degraded) == ("llm", False)
    assert analysis.root_cause == f"{DEFAULT_ANSWER['root_cause']} (root alert: KubeNodeNotReady on {NODE})"
    assert opened.incident.llm_calls == 1
    user = json.loads(fake_llm.requests[0].user_text)
    assert user["root"]["labels"]["node"] == NODE
    assert user["incident"]["member_count"] == len(storm)
    assert user["incident"]["by_alertname"] == {"KubePodNotReady": 30, "KubeNodeNotReady": 1}
