"""The wire contract: what producers and subscribers in any language rely on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

import schemas
from schemas._jsonschema import DOCUMENTED, json_schema

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"
REPO = Path(__file__).resolve().parents[3]


def webhook(name: str) -> schemas.AlertmanagerWebhook:
    return schemas.decode((FIXTURES / name).read_bytes(), schemas.AlertmanagerWebhook)


def test_alertmanager_payload_decodes_and_ignores_unknown_fields() -> None:
    payload = webhook("firing_two_alerts.json")
    assert payload.version == "4"
    assert payload.group_key == '{}:{alertname="HighCPUUsage"}'
    first = payload.alerts[0]
    assert first.labels["instance"] == "node-1:9100"
    assert first.starts_at == datetime(2026, 11, 26, 9, 58, 30, 123457, tzinfo=UTC)
    assert "g0.expr" in first.generator_url


def test_episode_id_is_stable_for_resends_and_new_for_the_resolution() -> None:
    firing = webhook("firing_two_alerts.json").alerts[0]
    resolved = webhook("resolved_one_alert.json").alerts[0]
    again = webhook("firing_two_alerts.json").alerts[0]
    assert schemas.alert_id(firing) == schemas.alert_id(again)
    assert schemas.alert_id(firing) != schemas.alert_id(resolved)
    assert schemas.episode_key(firing) == schemas.episode_key(resolved)


def test_a_resolution_finds_the_id_its_firing_was_listed_by() -> None:
    firing = webhook("firing_two_alerts.json").alerts[0]
    resolved = webhook("resolved_one_alert.json").alerts[0]
    assert schemas.firing_id(schemas.episode_key(resolved)) == schemas.alert_id(firing)


def test_a_new_episode_of_the_same_alert_gets_a_new_id() -> None:
    firing = webhook("firing_two_alerts.json").alerts[0]
    later = msgspec.structs.replace(firing, starts_at=datetime(2026, 11, 27, tzinfo=UTC))
    assert schemas.alert_id(firing) != schemas.alert_id(later)


def test_manual_ids_are_fresh() -> None:
    assert len({schemas.manual_id() for _ in range(100)}) == 100


def test_missing_fingerprint_falls_back_to_the_label_set() -> None:
    alert = schemas.Alert(status="firing", labels={"alertname": "A", "b": "1"}, starts_at=datetime.now(UTC))
    same = schemas.Alert(status="firing", labels={"b": "1", "alertname": "A"}, starts_at=alert.starts_at)
    assert schemas.alert_id(alert) == schemas.alert_id(same)


def test_category_vocabulary_is_exactly_the_documented_one() -> None:
    assert set(schemas.CATEGORIES) == {
        "cpu_saturation", "memory_pressure", "disk_capacity", "disk_io", "network", "availability",
        "crash_loop", "dependency_failure", "config_error", "deployment_regression",
        "certificate_expiry", "traffic_spike", "unknown",
    }  # fmt: skip


def test_analysis_rejects_out_of_range_confidence_and_unknown_category() -> None:
    base = {"summary": "s", "root_cause": "r", "category": "network", "confidence": 0.5, "analyzer": "llm"}
    assert schemas.decode(msgspec.json.encode(base), schemas.Analysis).confidence == 0.5
    for bad in ({"confidence": 1.5}, {"category": "gremlins"}):
        with pytest.raises(msgspec.ValidationError):
            schemas.decode(msgspec.json.encode({**base, **bad}), schemas.Analysis)


def test_every_message_round_trips_and_carries_its_schema_version() -> None:
    alert = webhook("firing_two_alerts.json").alerts[0]
    now = datetime.now(UTC)
    raw = schemas.RawAlert(id=schemas.alert_id(alert), alert=alert, received_at=now)
    enriched = schemas.enriched(raw, schemas.Evidence(), now)
    analysis = schemas.Analysis(
        summary="s", root_cause="r", category="cpu_saturation", confidence=0.8, analyzer="rules"
    )
    analyzed = schemas.analyzed(enriched, analysis, now)
    for message in (raw, enriched, analyzed):
        wire = schemas.encode(message)
        assert msgspec.json.decode(wire)["schema"] == schemas.SCHEMA_VERSION
        assert schemas.decode(wire, type(message)) == message
    # A subscriber that only knows alerts.raw can read alerts.analyzed.
    assert schemas.decode(schemas.encode(analyzed), schemas.RawAlert) == raw


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_committed_json_schemas_match_the_structs(name: str) -> None:
    committed = REPO / "docs" / "schemas" / f"{name}.schema.json"
    assert committed.exists(), "run `just docs` to export the JSON Schemas"
    assert msgspec.json.decode(committed.read_bytes()) == json_schema(DOCUMENTED[name][1])


def test_the_package_exports_what_it_declares() -> None:
    assert sorted(schemas.__all__) == sorted(set(schemas.__all__))
    for name in schemas.__all__:
        assert hasattr(schemas, name), name
