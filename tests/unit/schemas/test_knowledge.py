"""What every stage knows about an alert, read once in the contract instead of in each service."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import msgspec
import pytest

import schemas

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alertmanager"
STARTS = datetime(2026, 11, 26, 9, 55, tzinfo=UTC)


def alert(**fields: object) -> schemas.Alert:
    body = {"status": "firing", "labels": {"alertname": "A"}, "startsAt": "2026-11-26T09:55:00Z", **fields}
    return schemas.decode(msgspec.json.encode(body), schemas.Alert)


@pytest.mark.parametrize(
    ("generator_url", "expr"),
    [
        (f"http://prom:9090/graph?g0.expr={quote('sum(rate(x[5m])) > 1')}&g0.tab=1", "sum(rate(x[5m])) > 1"),
        ("http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1", "up == 0"),
        ("http://prom:9090/graph?g0.expr=%20node_load1%0A", "node_load1"),
        ("http://prom:9090/graph?g0.tab=1", ""),
        ("http://prom:9090/graph", ""),
        ("", ""),
    ],
)
def test_the_rule_expression_is_generator_urls_g0_expr(generator_url: str, expr: str) -> None:
    assert alert(generatorURL=generator_url).rule_expression == expr


def test_the_placeholder_end_of_a_firing_alert_decodes_as_no_end() -> None:
    firing = schemas.decode((FIXTURES / "firing_two_alerts.json").read_bytes(), schemas.AlertmanagerWebhook)
    assert b"0001-01-01T00:00:00Z" in (FIXTURES / "firing_two_alerts.json").read_bytes()
    assert [a.ends_at for a in firing.alerts] == [None, None]
    assert alert(endsAt=schemas.GO_ZERO_TIME).ends_at is None
    ended = alert(status="resolved", endsAt="2026-11-26T10:05:00Z")
    assert ended.ends_at == datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def test_an_alert_built_in_code_with_the_placeholder_has_no_end_either() -> None:
    built = schemas.Alert(status="firing", labels={}, starts_at=STARTS, ends_at=datetime(1, 1, 1, tzinfo=UTC))
    assert built.ends_at is None


def test_a_message_written_before_normalising_reads_the_same_as_a_new_one() -> None:
    firing = {
        "status": "firing",
        "labels": {},
        "startsAt": "2026-11-26T09:55:00Z",
        "endsAt": schemas.GO_ZERO_TIME,
    }
    old = {"id": "x", "received_at": "2026-11-26T09:56:00Z", "alert": firing}
    raw = schemas.decode(msgspec.json.encode(old), schemas.RawAlert)
    assert raw.alert.ends_at is None
    assert msgspec.json.decode(schemas.encode(raw))["alert"]["endsAt"] is None
    # The episode id does not depend on the end, so normalising it changes no id.
    later = msgspec.structs.replace(raw.alert, ends_at=datetime(2026, 11, 26, 10, tzinfo=UTC))
    assert schemas.alert_id(raw.alert) == schemas.alert_id(later)


def test_log_severities_rank_most_severe_first_and_cover_the_vocabulary() -> None:
    ranked = sorted(schemas.LOG_SEVERITY_RANK, key=schemas.LOG_SEVERITY_RANK.__getitem__)
    assert ranked == ["error", "warning", "info"]
    assert set(ranked) == set(schemas.LogSeverity.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("spike to 0.98 at 10:03:00Z, 2m before the alert (typical 0.2)", schemas.SeriesEvent.SPIKE),
        ("dip to 0 at 10:03:00Z, at the alert start (typical 4)", schemas.SeriesEvent.DIP),
        ("rose to 0.97 for 6m from 10:01:00Z, 1m before the alert", schemas.SeriesEvent.ROSE),
        ("level shift from 1 to 2 (+100%) at 10:00:00Z", schemas.SeriesEvent.LEVEL_SHIFT),
        ("level shift +1 at 01:06:10Z", schemas.SeriesEvent.LEVEL_SHIFT),
        ("increased 6 times from 0 to 6, last at 10:30:00Z", schemas.SeriesEvent.INCREASED),
        (
            "steady fall of 1.2k/min from 9k to 3k; at this rate it reaches 0 in about 12m",
            schemas.SeriesEvent.STEADY_FALL,
        ),
        ("steady rise of 3/min from 1 to 90", schemas.SeriesEvent.STEADY_RISE),
        ("step from 41 to 42 at 10:13:45Z, 1m before the alert", schemas.SeriesEvent.STEP),
        ("appeared at 10:10:00Z, 5m before the alert", schemas.SeriesEvent.APPEARED),
        ("disappeared after 10:10:00Z, 5m before the alert", schemas.SeriesEvent.DISAPPEARED),
        # Words inside other words, or a phrase not at the start, are no kind.
        ("stepped from 1 to 2", None),
        ("spiked to 3", None),
        ("a jump to 5 at 10:00:00Z", None),
        ("drop to 0 at 11:58:00Z", None),
    ],
)
def test_a_finding_is_read_back_by_the_words_it_starts_with(
    sentence: str, kind: schemas.SeriesEvent | None
) -> None:
    assert schemas.SeriesEvent.of(sentence) == kind


def test_no_finding_phrase_begins_another() -> None:
    phrases = [kind.value for kind in schemas.SeriesEvent]
    assert not [(a, b) for a in phrases for b in phrases if a != b and b.startswith(a + " ")]


def test_the_analysis_carries_every_field_of_the_explanation_first_and_in_order() -> None:
    explained = schemas.Explanation.__struct_fields__
    assert schemas.Analysis.__struct_fields__[: len(explained)] == explained
    described = msgspec.json.schema(schemas.Explanation)["$defs"]["Explanation"]["properties"]
    # The analyst's prompt shows each description as what to write in that field.
    assert [name for name, field in described.items() if not field.get("description")] == []
