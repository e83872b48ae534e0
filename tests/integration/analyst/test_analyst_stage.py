"""The analyst as a running stage: rules without a key, a slow LLM without redelivery."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext

import schemas
from services.analyst import SPEC, AnalystSettings
from services.analyst.eval import load_scenarios
from services.runtime import provision
from tests.fakes.llm import FakeLlm
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage, settings_for
from tests.support.stream import read_subject


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def _publish(js: JetStreamContext, message: schemas.EnrichedAlert) -> None:
    await js.publish(schemas.ENRICHED, schemas.encode(message), headers={schemas.MSG_ID_HEADER: message.id})


async def test_without_a_key_every_alert_gets_a_rules_analysis(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = settings_for(AnalystSettings, nats_server.url)
    await provision(js, settings)
    scenarios = load_scenarios()[:10]
    async with running_stage(SPEC, settings):
        for scenario in scenarios:
            await _publish(js, scenario.message)
        out = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(scenarios))
    by_id = {message.id: message for message in out}
    for scenario in scenarios:
        analyzed = by_id[scenario.message.id]
        assert analyzed.analysis.analyzer == "rules"
        assert analyzed.analysis.category == scenario.expected.category
        assert analyzed.evidence == scenario.message.evidence


async def test_a_slow_llm_answer_is_not_redelivered(
    nats_server: NatsServer, js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    fake_llm.delay = 2.5  # more than twice the ack wait
    settings = settings_for(
        AnalystSettings,
        nats_server.url,
        ack_wait_seconds=1,
        llm_api_key="sk-test-not-a-secret",
        llm_base_url=fake_llm.url,
        analysis_cache="false",
    )
    await provision(js, settings)
    message = load_scenarios()[0].message
    async with running_stage(SPEC, settings):
        await _publish(js, message)
        (out,) = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=1, timeout=15)
        info = await js.consumer_info(schemas.STREAM, "analyst")
    assert out.analysis.analyzer == "llm"
    assert fake_llm.calls == 1
    assert info.num_redelivered == 0
