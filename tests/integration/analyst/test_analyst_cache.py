"""One LLM call per firing episode: re-sends and the resolution reuse the kept analysis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import nats
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import Analyst, AnalystMetrics, EpisodeCache, LlmAnalyst, RulesAnalyst
from services.analyst.eval import build_message
from tests.fakes.llm import FakeLlm
from tests.integration.analyst.conftest import llm_settings
from tests.support.nats_server import NatsServer

START = datetime(2024, 5, 14, 9, 12, tzinfo=UTC)
FIRING = build_message(
    {
        "alert": {
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-api-1"},
            "startsAt": START.isoformat(),
            "fingerprint": "3f2a9c01d4e5b6a7",
        },
        "logs": [{"sample": "Reason: OOMKilled", "count": 4}],
    }
)


def resolved_copy(message: schemas.EnrichedAlert, after: timedelta) -> schemas.EnrichedAlert:
    alert = msgspec.structs.replace(message.alert, status="resolved", ends_at=START + after)
    return msgspec.structs.replace(message, alert=alert, id=schemas.alert_id(alert))


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield nc.jetstream()
    await nc.close()


async def _analyst(js: JetStreamContext, fake: FakeLlm) -> tuple[Analyst, LlmAnalyst]:
    metrics = AnalystMetrics(CollectorRegistry())
    llm = LlmAnalyst(llm_settings(fake), RulesAnalyst(), metrics)
    cache = await EpisodeCache.open(js, "aiops-analyses", ttl_hours=1)
    return Analyst(RulesAnalyst(), metrics, llm=llm, cache=cache), llm


async def test_resends_of_an_episode_cost_one_call(js: JetStreamContext, fake_llm: FakeLlm) -> None:
    analyst, llm = await _analyst(js, fake_llm)
    first = await analyst.handle(FIRING)
    again = await analyst.handle(FIRING)
    await llm.close()
    assert fake_llm.calls == 1
    assert (first.analysis.reused, again.analysis.reused) == (False, True)
    assert again.analysis.root_cause == first.analysis.root_cause
    assert again.id == first.id
    assert again.evidence == FIRING.evidence


async def test_the_kept_analysis_survives_a_restart_of_the_analyst(
    js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    analyst, llm = await _analyst(js, fake_llm)
    await analyst.handle(FIRING)
    await llm.close()
    restarted, llm = await _analyst(js, fake_llm)  # opening the existing bucket is idempotent
    again = await restarted.handle(FIRING)
    await llm.close()
    assert fake_llm.calls == 1
    assert again.analysis.reused


async def test_the_resolution_reuses_the_analysis_and_says_how_long_it_lasted(
    js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    analyst, llm = await _analyst(js, fake_llm)
    firing = await analyst.handle(FIRING)
    done = await analyst.handle(resolved_copy(FIRING, timedelta(minutes=42)))
    await llm.close()
    assert fake_llm.calls == 1
    assert done.alert.status == "resolved"
    assert done.analysis.reused
    assert done.analysis.summary == f"Resolved after 42m: {firing.analysis.summary}"
    assert done.id != firing.id


async def test_a_replay_with_reanalysis_calls_again_on_purpose(
    js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    analyst, llm = await _analyst(js, fake_llm)
    await analyst.handle(FIRING)
    replay = schemas.Replay(id="r1", requested_at=datetime.now(UTC), reanalyze=True)
    again = await analyst.handle(msgspec.structs.replace(FIRING, replay=replay))
    plain_replay = msgspec.structs.replace(FIRING, replay=msgspec.structs.replace(replay, reanalyze=False))
    cached = await analyst.handle(plain_replay)
    await llm.close()
    assert fake_llm.calls == 2
    assert not again.analysis.reused
    assert cached.analysis.reused


async def test_concurrent_copies_of_one_episode_share_one_call(
    js: JetStreamContext, fake_llm: FakeLlm
) -> None:
    fake_llm.delay = 0.3
    analyst, llm = await _analyst(js, fake_llm)
    results = await asyncio.gather(*(analyst.handle(FIRING) for _ in range(5)))
    await llm.close()
    assert fake_llm.calls == 1
    assert sorted(r.analysis.reused for r in results) == [False, True, True, True, True]


async def test_degraded_answers_are_not_kept(js: JetStreamContext, fake_llm: FakeLlm) -> None:
    fake_llm.script("invalid", "invalid")
    analyst, llm = await _analyst(js, fake_llm)
    first = await analyst.handle(FIRING)
    second = await analyst.handle(FIRING)
    await llm.close()
    assert first.analysis.degraded
    assert not second.analysis.degraded
    assert fake_llm.calls == 3
