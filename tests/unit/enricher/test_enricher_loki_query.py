"""LogQL from an alert's labels through the label map."""

from __future__ import annotations

import pytest

from services.enricher._loki import parse_label_map, problem_query, stream_selector

LABEL_MAP = parse_label_map(["instance=host", "pod=pod", "namespace=namespace", "service=service_name"])


def test_mapped_labels_become_exact_stream_matchers_and_the_scrape_port_is_dropped() -> None:
    labels = {"alertname": "X", "instance": "web-1:9100", "service": "checkout", "severity": "page"}
    assert stream_selector(labels, LABEL_MAP) == '{host="web-1", service_name="checkout"}'


def test_an_instance_without_a_port_or_with_an_ipv6_address_keeps_its_host() -> None:
    assert stream_selector({"instance": "web-1"}, LABEL_MAP) == '{host="web-1"}'
    assert stream_selector({"instance": "[::1]:9100"}, LABEL_MAP) == '{host="[::1]"}'


def test_values_are_escaped_and_no_mapped_label_means_no_query() -> None:
    assert stream_selector({"pod": 'a"b\\c'}, LABEL_MAP) == '{pod="a\\"b\\\\c"}'
    assert stream_selector({"alertname": "X", "severity": "page"}, LABEL_MAP) is None


def test_the_problem_filter_is_case_insensitive() -> None:
    query = problem_query('{host="web-1"}')
    assert query.startswith('{host="web-1"} |~ `(?i)(error|')
    assert "warn" in query


@pytest.mark.parametrize("bad", ["instance", "=host", "instance="])
def test_a_malformed_label_map_entry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="alert_label=loki_label"):
        parse_label_map([bad])
