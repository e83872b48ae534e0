"""Webhook signatures, PagerDuty events, Teams cards, the log summary and answer handling."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest

import schemas
from services.notifier import LinkSettings, pagerduty_event, summary_lines, teams_message, view
from services.notifier._destinations import Destination
from services.notifier._http import Answer, parse_retry_after, verdict
from services.notifier._render import render
from tests.fakes.pagerduty import event_errors
from tests.fakes.teams import card_errors

Resolve = Callable[[schemas.AnalyzedAlert, float], schemas.AnalyzedAlert]
TOLERANCE = 300


def receiver_accepts(secret: str, headers: dict[str, str], body: bytes, now: float) -> bool:
    """What docs/notifications.md tells a receiver to do, written independently of the notifier."""
    timestamp = headers["X-Aiops-Timestamp"]
    if abs(now - int(timestamp)) > TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Aiops-Signature"], "v1=" + expected)


def webhook(secret: str = "topsecret") -> Destination:
    return Destination(name="webhook", type="webhook", url="https://receiver.example/hook", secret=secret)


def test_signed_webhook_verifies_and_carries_the_analyzed_message(firing: schemas.AnalyzedAlert) -> None:
    now = int(time.time())
    request = render(webhook(), view(firing, LinkSettings()), now)
    assert receiver_accepts("topsecret", request.headers, request.body, now)
    assert schemas.decode(request.body, schemas.AnalyzedAlert) == firing
    assert request.headers["X-Aiops-Alert-Id"] == firing.id
    assert request.headers["Idempotency-Key"] == f'"{firing.id}.webhook"'


def test_every_attempt_of_a_delivery_has_the_same_idempotency_key(firing: schemas.AnalyzedAlert) -> None:
    """A repeat after a crash must be recognisable; another alert, resolution or replay must not be."""
    first = render(webhook(), view(firing, LinkSettings()), int(time.time()))
    later = render(webhook(), view(firing, LinkSettings()), int(time.time()) + 60)
    assert first.headers["Idempotency-Key"] == later.headers["Idempotency-Key"]
    resolved = msgspec.structs.replace(firing, id="another-episode-or-status")
    replay = schemas.Replay(id="r1", requested_at=datetime.now(UTC), notify=True)
    replayed = msgspec.structs.replace(firing, replay=replay)
    other_destination = Destination(name="audit", type="webhook", url="https://audit.example/hook")
    keys = {
        render(dest, view(message, LinkSettings()), 0).headers["Idempotency-Key"]
        for message, dest in (
            (firing, webhook()),
            (resolved, webhook()),
            (replayed, webhook()),
            (firing, other_destination),
        )
    }
    assert len(keys) == 4


def test_tampered_replayed_or_wrongly_keyed_posts_are_refused(firing: schemas.AnalyzedAlert) -> None:
    now = int(time.time())
    request = render(webhook(), view(firing, LinkSettings()), now)
    assert not receiver_accepts("topsecret", request.headers, request.body.replace(b"0.82", b"0.99"), now)
    assert not receiver_accepts("topsecret", request.headers, request.body, now + TOLERANCE + 1)
    assert not receiver_accepts("other", request.headers, request.body, now)


def test_without_a_secret_posts_are_unsigned(firing: schemas.AnalyzedAlert) -> None:
    request = render(webhook(secret=""), view(firing, LinkSettings()), 0)
    assert "X-Aiops-Signature" not in request.headers


def test_pagerduty_trigger_and_resolve_share_the_dedup_key(
    firing: schemas.AnalyzedAlert, resolve: Resolve
) -> None:
    trigger = pagerduty_event(view(firing, LinkSettings()), "K" * 32)
    assert event_errors(trigger) == []
    assert trigger["dedup_key"] == "8c1f2b3a4d5e6f70"
    assert trigger["payload"]["severity"] == "critical"
    details = trigger["payload"]["custom_details"]
    assert details["category"] == "memory_pressure"
    assert len(details["remediation"]) == 3
    resolved = pagerduty_event(view(resolve(firing, 60), LinkSettings()), "K" * 32)
    assert resolved == {"routing_key": "K" * 32, "event_action": "resolve", "dedup_key": "8c1f2b3a4d5e6f70"}


def test_teams_card_for_firing_and_resolved(firing: schemas.AnalyzedAlert, resolve: Resolve) -> None:
    card = teams_message(view(firing, LinkSettings()))
    assert card_errors(card) == []
    content = card["attachments"][0]["content"]
    assert content["body"][0]["color"] == "Attention"
    facts = {f["title"]: f["value"] for f in content["body"][2]["facts"]}
    assert facts["Category"] == "memory_pressure"
    assert facts["Confidence"] == "82%"
    assert [a["title"] for a in content["actions"]] == ["Prometheus graph", "Silence", "Runbook"]
    resolved = teams_message(view(resolve(firing, 3725), LinkSettings()))
    assert card_errors(resolved) == []
    assert "resolved after **1h 2m**" in str(resolved)


def test_log_summary_reads_well(firing: schemas.AnalyzedAlert, resolve: Resolve) -> None:
    text = summary_lines(view(firing, LinkSettings()))
    first = text.splitlines()[0]
    assert first == (
        "🔥 CRITICAL KubePodCrashLooping on payments-api-7d9f8b6c4-x2kqp"
        " — memory_pressure (82%, llm (deepseek-chat))"
    )
    assert "    step 1:     Raise the memory limit of payments-api to 1Gi to stop the restarts" in text
    assert summary_lines(view(resolve(firing, 90), LinkSettings())).startswith(
        "✅ RESOLVED KubePodCrashLooping on payments-api-7d9f8b6c4-x2kqp after 1m 30s — root cause was: "
    )


def test_the_rules_analyst_is_named_by_its_rule_once(firing: schemas.AnalyzedAlert) -> None:
    analysis = msgspec.structs.replace(firing.analysis, analyzer="rules", model="rules:oom-killed")
    by_rules = msgspec.structs.replace(firing, analysis=analysis)
    first = summary_lines(view(by_rules, LinkSettings())).splitlines()[0]
    assert first.endswith("— memory_pressure (82%, rule oom-killed)"), first


def test_an_alert_without_a_severity_label_shows_none(firing: schemas.AnalyzedAlert) -> None:
    labels = {k: v for k, v in firing.alert.labels.items() if k != "severity"}
    plain = msgspec.structs.replace(firing, alert=msgspec.structs.replace(firing.alert, labels=labels))
    shown = view(plain, LinkSettings())
    assert summary_lines(shown).splitlines()[0].startswith("🔔 KubePodCrashLooping on ")
    assert shown.title.startswith("🔔 · KubePodCrashLooping · FIRING")
    assert "NONE" not in summary_lines(shown) + shown.title


@pytest.mark.parametrize(
    ("kind", "status", "body", "expected"),
    [
        ("slack", 200, "ok", "delivered"),
        ("slack", 400, "invalid_payload", "rejected"),
        ("slack", 404, "no_service", "rejected"),
        ("slack", 429, "rate_limited", "retry"),
        ("slack", 500, "rollup_error", "retry"),
        ("slack", 0, "", "retry"),
        ("pagerduty", 202, "{}", "delivered"),
        ("teams", 200, "1", "delivered"),
        ("teams", 202, "", "delivered"),
        ("teams", 200, "Webhook message delivery failed with error: ... HTTP error 429 with ...", "retry"),
        ("teams", 200, "Webhook message delivery failed with error: ... HTTP error 400 with ...", "rejected"),
    ],
)
def test_what_an_answer_means(kind: str, status: int, body: str, expected: str) -> None:
    assert verdict(kind, Answer(status, body, 0.01)) == expected


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 26 Nov 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("99999") == 600.0
