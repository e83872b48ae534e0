"""Which documents an alert's Elasticsearch query selects, and which settings stop the start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from schemas import Alert, RawAlert, SourceErrorKind
from services.enricher import EnricherSettings, make_enricher
from services.enricher._elasticsearch import ElasticsearchSettings, _seconds, candidates, described, field_of
from services.enricher._loki import parse_label_map
from services.runtime import ConfigError, load

FIELDS = parse_label_map(ElasticsearchSettings.of(EnricherSettings()).elasticsearch_label_map)
NOW = datetime(2026, 5, 14, 10, tzinfo=UTC)
RAW = RawAlert(id="a1", alert=Alert(status="firing", labels={"pod": "api-0"}, starts_at=NOW), received_at=NOW)


def test_a_pod_alert_asks_for_the_pod_then_its_container_then_its_host() -> None:
    labels = {"namespace": "shop", "pod": "api-0", "container": "api", "instance": "10.0.0.7:8080"}
    assert [described(c) for c in candidates(labels, FIELDS)] == [
        'kubernetes.namespace:"shop" AND kubernetes.pod.name:"api-0"',
        'kubernetes.namespace:"shop" AND kubernetes.container.name:"api"',
        'host.name:"10.0.0.7"',  # the scrape port is not part of a host name
    ]


def test_a_label_the_map_does_not_know_is_not_asked_about() -> None:
    assert candidates({"alertname": "Watchdog", "severity": "none"}, FIELDS) == []
    assert candidates({"pod": "api-0"}, {"namespace": "k8s.ns"}) == []


def test_values_are_quoted_as_json_so_a_quote_cannot_change_the_query() -> None:
    [terms] = candidates({"service": 'a"b'}, FIELDS)
    assert terms == (("service.name", 'a"b'),)
    assert described(terms) == 'service.name:"a\\"b"'


def test_fields_are_found_flat_or_nested() -> None:
    assert field_of({"log.level": "error"}, "log.level") == "error"
    assert field_of({"log": {"level": "warn"}}, "log.level") == "warn"
    assert field_of({"log": "plain"}, "log.level") is None


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ELASTICSEARCH_URL": "elastic:9200"}, "ELASTICSEARCH_URL must be an http"),
        ({"ELASTICSEARCH_INDEX": "logs app"}, "ELASTICSEARCH_INDEX"),
        ({"ELASTICSEARCH_USERNAME": "elastic"}, "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD"),
        ({"ELASTICSEARCH_PASSWORD": "pw-1"}, "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD"),
        (
            {"ELASTICSEARCH_API_KEY": "k-1", "ELASTICSEARCH_USERNAME": "e", "ELASTICSEARCH_PASSWORD": "p"},
            "ELASTICSEARCH_API_KEY and ELASTICSEARCH_USERNAME",
        ),
        ({"ELASTICSEARCH_LABEL_MAP": "pod"}, "ELASTICSEARCH_LABEL_MAP: label map entry 'pod' must look like"),
        ({"ELASTICSEARCH_TIME_FIELD": " "}, "ELASTICSEARCH_TIME_FIELD"),
    ],
)
async def test_a_misconfigured_elasticsearch_stops_the_start_naming_the_setting(
    session: aiohttp.ClientSession, env: dict[str, str], named: str
) -> None:
    settings = load(EnricherSettings, {"ELASTICSEARCH_URL": "http://es:9200", **env})
    with pytest.raises(ConfigError, match=named) as raised:
        make_enricher(settings, session)
    assert "pw-1" not in str(raised.value)
    assert "k-1" not in str(raised.value)


async def test_without_its_url_elasticsearch_is_not_reported_missing(session: aiohttp.ClientSession) -> None:
    # An optional extra: a deployment without it lacks nothing, unlike one without Loki or Prometheus.
    enriched = await make_enricher(EnricherSettings(), session).handle(RAW)
    assert [(e.source, e.kind) for e in enriched.evidence.errors] == [
        ("prometheus", SourceErrorKind.NOT_CONFIGURED),
        ("loki", SourceErrorKind.NOT_CONFIGURED),
    ]


def test_a_hits_time_comes_from_its_sort_value_in_any_date_unit_or_from_the_document() -> None:
    at = datetime(2026, 5, 14, 10, 0, 1, 500000, tzinfo=UTC).timestamp()
    assert _seconds([int(at * 1000)], None) == at  # a date field sorts in milliseconds
    assert _seconds([int(at * 1e9)], None) == pytest.approx(at)  # a date_nanos field in nanoseconds
    assert _seconds(None, "2026-05-14T10:00:01.5Z") == at
    assert _seconds(None, "2026-05-14T10:00:01.5") == at  # no zone: UTC, as Elasticsearch stores it
    assert _seconds(None, "yesterday") is None
