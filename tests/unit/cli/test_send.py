"""``aiops send``'s alert: Alertmanager's webhook v4 shape, which ingest accepts and gives a stable id."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

import schemas
from services.cli._send import built_webhook, pairs, sample_webhook, samples
from services.ingest._parse import parse_webhook

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def test_a_built_alert_is_a_webhook_ingest_accepts_as_one_firing_alert() -> None:
    labels = {"alertname": "DataVolAlmostFull", "severity": "critical"}
    webhook = built_webhook(labels, {"summary": "/data is 97% full"}, NOW)
    [message] = parse_webhook(orjson.dumps(webhook))
    assert message.alert.status == "firing"
    assert message.alert.labels == labels
    assert message.alert.annotations == {"summary": "/data is 97% full"}
    assert message.alert.starts_at == NOW
    assert message.alert.fingerprint == schemas.label_fingerprint(labels)
    assert message.group.group_labels == {"alertname": "DataVolAlmostFull"}
    assert webhook["groupKey"] == '{}:{alertname="DataVolAlmostFull"}'


def test_each_send_is_a_new_episode_with_its_own_id() -> None:
    labels = {"alertname": "HighLatency"}
    first = parse_webhook(orjson.dumps(built_webhook(labels, {}, NOW)))[0]
    again = parse_webhook(orjson.dumps(built_webhook(labels, {}, NOW.replace(minute=1))))[0]
    assert first.id != again.id


def test_an_alert_needs_a_name_and_options_need_an_equals_sign() -> None:
    with pytest.raises(SystemExit, match="--label alertname=NAME is required"):
        built_webhook({"severity": "critical"}, {}, NOW)
    assert pairs(["summary=a=b", "x="], "--annotation") == {"summary": "a=b", "x": ""}
    with pytest.raises(SystemExit, match="--label takes NAME=VALUE, got 'severity'"):
        pairs(["severity"], "--label")


def test_samples_are_found_by_name_in_any_case() -> None:
    assert sample_webhook("instancedown")["alerts"][0]["labels"]["alertname"] == "InstanceDown"
    with pytest.raises(SystemExit, match="no sample named 'Nope'; choose one of: HighCPUUsage,"):
        sample_webhook("Nope")
    assert len(samples()) == 6
