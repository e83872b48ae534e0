"""The LLM analyst against a local server speaking the chat-completions API."""

from __future__ import annotations

import asyncio
import json
import re

from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, LlmAnalyst, RulesAnalyst
from services.analyst.eval import build_message
from tests.fakes.llm import DEFAULT_ANSWER, FakeLlm
from tests.integration.analyst.conftest import llm_settings

MESSAGE = build_message(
    {
        "alert": {
            "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "checkout-api-1"},
            "startsAt": "2024-05-14T09:12:00Z",
        },
        "logs": [{"sample": "Last State: Terminated Reason: OOMKilled Exit Code: 137", "count": 4}],
    }
)


def _analyst(fake: FakeLlm, **overrides: object) -> tuple[LlmAnalyst, CollectorRegistry]:
    registry = CollectorRegistry()
    settings = llm_settings(fake, **overrides)
    return LlmAnalyst(settings, RulesAnalyst(), AnalystMetrics(registry)), registry


async def test_a_valid_answer_becomes_the_analysis_with_its_usage(fake_llm: FakeLlm) -> None:
    llm, registry = _analyst(fake_llm)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert (analysis.analyzer, analysis.category, analysis.degraded) == ("llm", "memory_pressure", False)
    assert analysis.root_cause == DEFAULT_ANSWER["root_cause"]
    assert analysis.model == "deepseek-chat"
    assert analysis.prompt_tokens > 100
    assert analysis.completion_tokens > 10
    assert registry.get_sample_value("aiops_llm_tokens_total", {"kind": "prompt"}) == analysis.prompt_tokens
    (request,) = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.body["temperature"] == 0.2
    assert "OOMKilled" in request.user_text
    assert "memory_pressure" in request.body["messages"][0]["content"]


async def test_an_invalid_answer_is_repaired_once(fake_llm: FakeLlm) -> None:
    fake_llm.script("invalid", "valid")
    llm, _ = _analyst(fake_llm)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert (analysis.analyzer, analysis.degraded) == ("llm", False)
    assert fake_llm.calls == 2
    repair = fake_llm.requests[1].body["messages"]
    assert repair[-2]["role"] == "assistant"
    assert "could not be used" in repair[-1]["content"]
    # Both calls are paid for, so both count.
    expected = sum(sum(len(m["content"]) for m in r.body["messages"]) // 4 for r in fake_llm.requests)
    assert analysis.prompt_tokens == expected


async def test_two_invalid_answers_fall_back_to_the_rules_marked_degraded(fake_llm: FakeLlm) -> None:
    fake_llm.script("invalid", "badschema")
    llm, registry = _analyst(fake_llm)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert (analysis.analyzer, analysis.category, analysis.degraded) == ("rules", "memory_pressure", True)
    assert analysis.degraded_reason.startswith("LLM invalid_answer")
    assert fake_llm.calls == 2
    assert registry.get_sample_value("aiops_llm_fallbacks_total", {"error_type": "invalid_answer"}) == 1


async def test_429_is_retried_after_the_retry_after_delay(fake_llm: FakeLlm) -> None:
    fake_llm.script("status:429:Retry-After=1")
    llm, _ = _analyst(fake_llm)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert analysis.analyzer == "llm"
    first, second = fake_llm.requests
    assert second.at - first.at >= 1.0


async def test_a_retry_after_beyond_the_limit_answers_with_the_rules_at_once(fake_llm: FakeLlm) -> None:
    fake_llm.script("status:429:Retry-After=3600")
    llm, _ = _analyst(fake_llm)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert analysis.degraded
    assert "retry_after_too_long" in analysis.degraded_reason
    assert fake_llm.calls == 1


async def test_500s_open_the_breaker_which_recovers_by_itself(fake_llm: FakeLlm) -> None:
    fake_llm.script(*["status:500"] * 3)
    llm, registry = _analyst(
        fake_llm, llm_max_retries=1, llm_breaker_failures=3, llm_breaker_cooldown_seconds=0.3
    )
    first = await llm.analyze(MESSAGE)  # two failed requests
    second = await llm.analyze(MESSAGE)  # the third failure opens the breaker
    assert fake_llm.calls == 3
    third = await llm.analyze(MESSAGE)  # no request while open
    assert fake_llm.calls == 3
    assert all(a.degraded and a.analyzer == "rules" for a in (first, second, third))
    assert "server_error" in first.degraded_reason
    assert "breaker_open" in third.degraded_reason
    assert registry.get_sample_value("aiops_llm_breaker_open") == 1
    await asyncio.sleep(0.35)  # the cool-down itself, not synchronisation
    recovered = await llm.analyze(MESSAGE)  # the probe succeeds
    await llm.close()
    assert (recovered.analyzer, recovered.degraded) == ("llm", False)
    assert llm.breaker.state == "closed"
    assert registry.get_sample_value("aiops_llm_breaker_open") == 0


async def test_a_slow_answer_within_the_timeout_is_waited_for(fake_llm: FakeLlm) -> None:
    fake_llm.script("slow:1.0")
    llm, _ = _analyst(fake_llm, llm_timeout=3.0)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert analysis.analyzer == "llm"
    assert fake_llm.calls == 1


async def test_an_answer_slower_than_the_timeout_is_retried_then_replaced(fake_llm: FakeLlm) -> None:
    fake_llm.script("slow:2", "slow:2")
    llm, _ = _analyst(fake_llm, llm_timeout=0.3, llm_max_retries=1)
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert analysis.degraded
    assert "timeout" in analysis.degraded_reason
    assert fake_llm.calls == 2


async def test_anonymisation_hides_identities_from_the_provider_and_restores_them(fake_llm: FakeLlm) -> None:
    message = build_message(
        {
            "alert": {
                "labels": {
                    "alertname": "KubePodCrashLooping",
                    "instance": "10.0.5.12:8080",
                    "owner": "ops@acme.example",
                },
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "logs": [
                {
                    "sample": 'connect to "orders-db.shop.svc.cluster.local" failed: '
                    "java.lang.IllegalStateException"
                }
            ],
        }
    )

    def echo(body: dict) -> dict:  # type: ignore[type-arg]
        user = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        placeholders = sorted(set(re.findall(r"<(?:ip|host|email|redacted)-\d+>", user)))
        return {
            **DEFAULT_ANSWER,
            "category": "dependency_failure",
            "root_cause": "unreachable: " + " ".join(placeholders),
        }

    fake_llm.answer = echo
    llm, _ = _analyst(fake_llm, llm_anonymize=True, llm_anonymize_patterns=["acme-\\w+"])
    analysis = await llm.analyze(message)
    await llm.close()
    sent = json.dumps(fake_llm.requests[0].body)
    for secret in ("10.0.5.12", "ops@acme.example", "orders-db.shop.svc.cluster.local"):
        assert secret not in sent
        assert secret in analysis.root_cause
    assert "java.lang.IllegalStateException" in sent  # code names are not hostnames


async def test_json_object_schema_sends_the_answers_schema_inside_json_mode(fake_llm: FakeLlm) -> None:
    llm, _ = _analyst(fake_llm, llm_response_format="json_object_schema")
    analysis = await llm.analyze(MESSAGE)
    await llm.close()
    assert analysis.analyzer == "llm"
    response_format = fake_llm.requests[0].body["response_format"]
    assert response_format["type"] == "json_object"
    schema = response_format["schema"]
    assert set(schema["required"]) == {"summary", "root_cause", "category", "confidence"}
    assert sorted(schema["properties"]["category"]["enum"]) == sorted(schemas.CATEGORIES)
