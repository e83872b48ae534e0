from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.ingest import Authenticator, BadRequest, parse_manual, parse_webhook

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"


def test_webhook_gives_one_message_per_alert_with_its_group_context() -> None:
    messages = parse_webhook((FIXTURES / "firing_two_alerts.json").read_bytes())
    assert [m.alert.labels["alertname"] for m in messages] == ["HighCPUUsage", "DiskSpaceLow"]
    assert all(m.group.external_url == "http://alertmanager:9093" for m in messages)
    assert all(m.group.group_labels == {"alertname": "HighCPUUsage"} for m in messages)
    assert len({m.id for m in messages}) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"[]", "AlertmanagerWebhook"),
        (b'{"status": "firing", "alerts": [], "version": "4"}', "no alerts"),
        (b'{"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}}]}', "startsAt"),
        (b'{"status": "firing", "version": "3", "alerts": []}', "version"),
        (b'{"status": "maybe", "alerts": []}', "status"),
        (b'{"status":"firing","alerts":[{"status":"firing","labels":{"alertname":7},"startsAt":"2026-01-01T00:00:00Z"}]}',
         "labels"),
    ],
)  # fmt: skip
def test_webhook_rejections_say_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        parse_webhook(body)


def test_huge_label_sets_are_refused() -> None:
    labels = ",".join(f'"l{i}": "v"' for i in range(200))
    body = f'{{"status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"A",{labels}}},'
    body += '"startsAt":"2026-01-01T00:00:00Z"}]}'
    with pytest.raises(BadRequest, match="more than 128"):
        parse_webhook(body.encode())


def test_manual_alert_needs_an_alertname_and_gets_defaults() -> None:
    message = parse_manual(b'{"labels": {"alertname": "Slow", "service": "checkout"}}')
    assert message.source == "manual"
    assert message.alert.status == "firing"
    assert message.alert.starts_at == message.received_at
    with pytest.raises(BadRequest, match="alertname"):
        parse_manual(b'{"labels": {"service": "checkout"}}')


def test_authenticator_accepts_only_the_exact_credentials() -> None:
    auth = Authenticator(bearer_token="tok3n", basic_auth="user:pw")
    basic = base64.b64encode(b"user:pw").decode()
    assert auth.allows("Bearer tok3n")
    assert auth.allows("bearer tok3n")
    assert auth.allows(f"Basic {basic}")
    for header in (None, "", "Bearer", "Bearer tok3", "Bearer tok3n2", "tok3n", "Basic dXNlcjpwdw",
                   f"Basic {base64.b64encode(b'user:PW').decode()}", "Digest tok3n"):  # fmt: skip
        assert not auth.allows(header), header


def test_authenticator_is_open_when_nothing_is_configured() -> None:
    assert Authenticator().allows(None)
