"""Who may make ingest spend LLM calls: /analyze refused to strangers, and a budget per client."""

from __future__ import annotations

import base64

import pytest

from services.ingest import Authenticator, IngestSettings
from services.ingest._guard import AnalyzeGuard, is_loopback
from services.ingest._ratelimit import RateLimiter
from services.runtime import load


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**env: str) -> IngestSettings:
    return load(IngestSettings, {key.upper(): value for key, value in env.items()})


def guard(**env: str) -> AnalyzeGuard:
    s = settings(**env)
    limiter = RateLimiter(s.analyze_rate_per_minute, s.analyze_burst, clock=Clock())
    return AnalyzeGuard(s, Authenticator(s.ingest_auth_token, s.ingest_basic_auth), limiter)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True), ("localhost", True),
        ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("", False), ("10.1.2.3", False),
        ("fd00:1234::42", False), ("ingest.internal", False), ("localhost.example.com", False),
    ],
)  # fmt: skip
def test_only_addresses_of_this_machine_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_client_gets_its_burst_then_waits_for_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=2, clock=clock)
    assert [limiter.take("a"), limiter.take("a")] == [0, 0]
    assert limiter.take("a") == pytest.approx(10.0)  # 6 a minute: one every 10 s
    clock.now += 4
    assert limiter.take("a") == pytest.approx(6.0)  # a refused call spends nothing
    clock.now += 6
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    clock.now += 3600
    assert [limiter.take("a"), limiter.take("a")] == [0, 0]  # refilled to the burst, not beyond
    assert limiter.take("a") > 0


def test_clients_have_budgets_of_their_own_and_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=Clock())
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0
    unlimited = RateLimiter(per_minute=0, burst=1, clock=Clock())
    assert all(unlimited.take("a") == 0 for _ in range(1000))


def test_memory_stays_bounded_under_many_clients() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_clients=100, clock=Clock())
    for i in range(10_000):
        limiter.take(f"address 10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100
    assert limiter.take("address 10.0.39.15") > 0  # the most recent clients are still counted


def test_analyze_is_refused_when_anyone_can_reach_ingest_without_credentials() -> None:
    exposed = guard(ingest_host="0.0.0.0")
    reason = exposed.refusal()
    assert reason is not None
    assert "INGEST_AUTH_TOKEN" in reason
    assert "ANALYZE_ALLOW_UNAUTHENTICATED=true" in reason
    warning = exposed.warning()
    assert warning is not None
    assert "0.0.0.0" in warning
    assert "403" in warning
    assert "INGEST_HOST=127.0.0.1" in warning


@pytest.mark.parametrize(
    "env",
    [
        {"ingest_host": "127.0.0.1"},
        {"ingest_host": "::1"},
        {"ingest_host": "0.0.0.0", "ingest_auth_token": "t0ken"},
        {"ingest_host": "0.0.0.0", "ingest_basic_auth": "am:pw"},
    ],
    ids=["loopback", "loopback-v6", "token", "basic"],
)
def test_analyze_is_served_on_loopback_or_with_credentials_and_nothing_is_said(env: dict[str, str]) -> None:
    served = guard(**env)
    assert served.refusal() is None
    assert served.warning() is None


def test_allowing_unauthenticated_analysis_serves_it_but_still_warns() -> None:
    allowed = guard(ingest_host="0.0.0.0", analyze_allow_unauthenticated="true")
    assert allowed.refusal() is None
    warning = allowed.warning()
    assert warning is not None
    assert "open to them" in warning
    assert "ANALYZE_ALLOW_UNAUTHENTICATED=true" in warning


def test_with_credentials_the_budget_follows_the_credential_not_the_address() -> None:
    shared = guard(
        ingest_host="0.0.0.0", ingest_auth_token="t0ken", analyze_rate_per_minute="1", analyze_burst="1"
    )
    assert shared.retry_after("Bearer t0ken", "10.0.0.1") == 0
    assert shared.retry_after("Bearer t0ken", "10.0.0.2") > 0
    by_address = guard(ingest_host="127.0.0.1", analyze_rate_per_minute="1", analyze_burst="1")
    assert by_address.retry_after(None, "127.0.0.1") == 0
    assert by_address.retry_after(None, "127.0.0.1") > 0
    assert by_address.retry_after(None, "127.0.0.2") == 0


def test_identity_names_the_credential_without_its_secret() -> None:
    auth = Authenticator(bearer_token="t0ken-value", basic_auth="alertmanager:pa55word")
    basic = base64.b64encode(b"alertmanager:pa55word").decode()
    assert auth.identity("Bearer t0ken-value") == "bearer token"
    assert auth.identity(f"Basic {basic}") == "basic user alertmanager"
    wrong = base64.b64encode(b"alertmanager:nope").decode()
    assert [auth.identity(a) for a in (None, "", "Bearer nope", f"Basic {wrong}", "Basic !!")] == [None] * 5
    assert Authenticator().identity("Bearer anything") is None
