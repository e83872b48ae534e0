"""LLM_DAILY_TOKENS: one budget for all replicas, kept in a JetStream key-value bucket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import (
    SPEC,
    AnalystMetrics,
    AnalystSettings,
    LlmAnalyst,
    RulesAnalyst,
    SharedTally,
    TokenBudget,
)
from services.analyst.eval import build_message
from services.runtime import provision
from tests.fakes.llm import FakeLlm
from tests.integration.analyst.conftest import llm_settings
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage, settings_for
from tests.support.stream import read_subject

BUCKET = "aiops-llm-budget"


def _message(n: int) -> schemas.EnrichedAlert:
    return build_message(
        {
            "alert": {
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": f"checkout-{n}"},
                "startsAt": "2024-05-14T09:12:00Z",
                "fingerprint": f"{n:016x}",
            },
            "logs": [{"sample": "Last State: Terminated Reason: OOMKilled Exit Code: 137", "count": 4}],
        }
    )


@pytest.fixture
async def connections(nats_server: NatsServer) -> AsyncIterator[list[JetStreamContext]]:
    """Two connections: what two analyst replicas on two machines would have."""
    clients = [await nats.connect(nats_server.url) for _ in range(2)]
    yield [nc.jetstream() for nc in clients]
    for nc in clients:
        await nc.close()


async def _replica(js: JetStreamContext, fake: FakeLlm, limit: int) -> LlmAnalyst:
    budget = TokenBudget(limit, await SharedTally.open(js, BUCKET))
    settings = llm_settings(fake, llm_daily_tokens=limit)
    return LlmAnalyst(settings, RulesAnalyst(), AnalystMetrics(CollectorRegistry()), budget=budget)


async def test_two_replicas_spend_one_budget_then_answer_with_the_rules(
    connections: list[JetStreamContext], fake_llm: FakeLlm
) -> None:
    # The fake counts tokens from the text, so one analysis of this alert costs the same every time.
    probe = LlmAnalyst(llm_settings(fake_llm), RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    measured = await probe.analyze(_message(0))
    await probe.close()
    one_call = measured.prompt_tokens + measured.completion_tokens
    assert one_call > 0
    first, second = [await _replica(js, fake_llm, limit=2 * one_call) for js in connections]

    answers = [
        await first.analyze(_message(1)),  # the day's first call: within the budget
        await second.analyze(_message(2)),  # sees the first replica's tokens, still under the cap
        await first.analyze(_message(3)),  # sees both: the cap is reached
        await second.analyze(_message(4)),
    ]
    for llm in (first, second):
        await llm.close()

    assert [a.analyzer for a in answers] == ["llm", "llm", "rules", "rules"]
    assert fake_llm.calls == 3  # the probe and two replicas' calls; none after the cap
    today = datetime.now(UTC).date().isoformat()
    for degraded in answers[2:]:
        assert degraded.degraded
        assert degraded.category == "memory_pressure"  # the rules analyst's answer, not a blank
        assert degraded.degraded_reason.startswith("LLM budget_exhausted: LLM_DAILY_TOKENS=")
        assert f"({2 * one_call} tokens used on {today} UTC)" in degraded.degraded_reason
        assert "resets at" in degraded.degraded_reason
        assert degraded.prompt_tokens == degraded.completion_tokens == 0
    shared = await SharedTally.open(connections[0], BUCKET)
    assert await shared.read(today) == 2 * one_call


async def test_concurrent_spending_from_two_replicas_loses_no_tokens(
    connections: list[JetStreamContext],
) -> None:
    tallies = [await SharedTally.open(js, BUCKET) for js in connections]
    amounts = list(range(1, 41))
    await asyncio.gather(*(tallies[n % 2].add("2024-05-14", tokens) for n, tokens in enumerate(amounts)))
    assert await tallies[0].read("2024-05-14") == sum(amounts)
    assert await tallies[1].read("2024-05-15") == 0  # each UTC day has its own count


async def test_running_replicas_publish_degraded_analyses_once_the_cap_is_reached(
    nats_server: NatsServer, connections: list[JetStreamContext], fake_llm: FakeLlm
) -> None:
    js = connections[0]
    settings = settings_for(
        AnalystSettings,
        nats_server.url,
        llm_api_key="sk-test-not-a-secret",
        llm_base_url=fake_llm.url,
        llm_daily_tokens=1,  # the first answer spends it
        analysis_cache="false",
    )
    await provision(js, settings)
    messages = [_message(n) for n in range(4)]
    async with running_stage(SPEC, settings), running_stage(SPEC, settings):
        for message in messages:
            # One at a time, so the next one is analysed after the previous answer was counted.
            await js.publish(
                schemas.ENRICHED, schemas.encode(message), headers={schemas.MSG_ID_HEADER: message.id}
            )
            await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=messages.index(message) + 1)
        out = await read_subject(js, schemas.ANALYZED, schemas.AnalyzedAlert, count=len(messages))
    assert fake_llm.calls == 1  # whichever replica took them, the two shared one budget
    assert [m.analysis.analyzer for m in out] == ["llm", "rules", "rules", "rules"]
    assert all("LLM_DAILY_TOKENS=1 reached" in m.analysis.degraded_reason for m in out[1:])
