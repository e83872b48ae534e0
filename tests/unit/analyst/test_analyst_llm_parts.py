"""The pure parts of the LLM path: prompt budget, answer decoding, anonymiser, breaker, limiter."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import schemas
from services.analyst import (
    Anonymizer,
    CircuitBreaker,
    InvalidAnswer,
    RateLimiter,
    build_prompt,
    parse_answer,
)
from services.analyst._prompt import SYSTEM_PROMPT
from services.analyst.eval import build_message, load_scenarios


def _big_message() -> schemas.EnrichedAlert:
    series = [
        {
            "labels": {"pod": f"p-{i}"},
            "min": 1,
            "max": 2,
            "last": 2,
            "points": [[1e9 + j, j] for j in range(60)],
        }
        for i in range(20)
    ]
    logs = [
        {"sample": f"info line number {i} " + "x" * 150, "severity": "info", "count": i + 1}
        for i in range(40)
    ]
    logs.append(
        {"sample": "FATAL: remaining connection slots are reserved", "severity": "error", "count": 900}
    )
    return build_message(
        {
            "alert": {
                "labels": {"alertname": "APIHighLatency", "job": "api"},
                "startsAt": "2024-05-14T09:12:00Z",
            },
            "metrics": [{"name": "latency", "query": "histogram_quantile(0.99, ...)", "series": series}],
            "logs": logs,
        }
    )


def test_the_prompt_fits_the_budget_by_dropping_the_least_informative_first() -> None:
    message = _big_message()
    roomy = build_prompt(message, budget=100_000)
    tight = build_prompt(message, budget=2_500)
    assert roomy.dropped == []
    assert tight.estimated_tokens <= 2_500 < roomy.estimated_tokens
    assert tight.dropped[0] == "raw series points"
    user = json.loads(tight.messages[1]["content"])
    assert "remaining connection slots are reserved" in tight.messages[1]["content"]
    assert user["alert"]["labels"]["alertname"] == "APIHighLatency"
    assert user["dropped"] == tight.dropped


def test_the_prompt_carries_the_rule_expression_and_the_category_vocabulary() -> None:
    scenario = load_scenarios()[0]
    prompt = build_prompt(scenario.message, budget=6000)
    assert (
        "kube_pod_container_status_waiting_reason"
        in json.loads(prompt.messages[1]["content"])["alert"]["expr"]
    )
    assert "insufficient evidence" in SYSTEM_PROMPT
    assert all(
        category in SYSTEM_PROMPT for category in ("dependency_failure", "certificate_expiry", "unknown")
    )


def test_every_scenario_prompt_stays_within_the_default_budget() -> None:
    for scenario in load_scenarios():
        assert build_prompt(scenario.message, budget=6000).estimated_tokens <= 6000


def test_answers_are_decoded_strictly() -> None:
    good = {
        "summary": "s",
        "root_cause": "r",
        "category": "network",
        "confidence": 0.7,
        "evidence": [],
        "remediation": [],
    }
    assert parse_answer(json.dumps(good)).category == "network"
    assert parse_answer("```json\n" + json.dumps(good) + "\n```").confidence == 0.7
    with pytest.raises(InvalidAnswer, match="not valid JSON"):
        parse_answer("The cause is the network.")
    with pytest.raises(InvalidAnswer, match="schema"):
        parse_answer(json.dumps({**good, "category": "gremlins"}))
    with pytest.raises(InvalidAnswer, match="schema"):
        parse_answer(json.dumps({**good, "confidence": 85}))
    with pytest.raises(InvalidAnswer, match="empty"):
        parse_answer("")


def test_anonymisation_is_stable_and_reversible() -> None:
    anonymizer = Anonymizer(["cust-\\d+"])
    text = (
        "10.0.0.7 called db-1.prod.acme.com for cust-4411; 10.0.0.7 again; mail ops@acme.com; java.lang.Error"
    )
    scrubbed = anonymizer.scrub(text)
    for secret in ("10.0.0.7", "db-1.prod.acme.com", "cust-4411", "ops@acme.com"):
        assert secret not in scrubbed
    assert scrubbed.count("<ip-1>") == 2
    assert "java.lang.Error" in scrubbed
    assert anonymizer.restore(scrubbed) == text


def _state(breaker: CircuitBreaker) -> str:
    """The breaker's state read afresh: mypy would keep ``breaker.state`` narrowed to what an earlier
    assert said, across the calls that change it, and skip the rest of the test as unreachable."""
    return breaker.state


def test_the_breaker_opens_cools_down_and_probes_once() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 30.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure()
    assert breaker.allow()
    assert _state(breaker) == "closed"
    breaker.failure()
    assert _state(breaker) == "open"
    assert not breaker.allow()
    now[0] = 31.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.failure()  # the probe failed: open again for a full cool-down
    assert _state(breaker) == "open"
    now[0] = 62.0
    assert breaker.allow()
    breaker.success()
    assert _state(breaker) == "closed"
    assert breaker.allow()


def test_the_rate_limiter_spaces_requests_over_a_minute() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.delay() == 0
    assert limiter.delay() == 0
    assert limiter.delay() == pytest.approx(60.0)
    now[0] = 45.0
    assert limiter.delay() == pytest.approx(15.0)
    now[0] = 60.0
    assert limiter.delay() == 0


def test_scenario_messages_are_valid_pipeline_messages() -> None:
    message = load_scenarios()[0].message
    assert message.enriched_at > message.alert.starts_at > datetime(2020, 1, 1, tzinfo=UTC)
