"""One number formatter for every message: the same value never reads two ways."""

from __future__ import annotations

import pytest

import schemas


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.981, "0.981"), (5000, "5k"), (4823.2, "4.82k"), (999.7, "1k"), (1e-7, "0.0000001"),
     (12_345_678, "12.3M"), (-3.14159, "-3.14"), (None, "n/a")],
)  # fmt: skip
def test_numbers_have_three_significant_digits_and_never_an_exponent(value: float | None, text: str) -> None:
    assert schemas.number(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.35, "350 ms"), (4.2, "4.2 s"), (200, "3m 20s"), (5400, "1h 30m"), (90_000, "1d 1h"), (-7200, "-2h")],
)
def test_durations_show_their_two_largest_units(seconds: float, text: str) -> None:
    assert schemas.duration(seconds) == text


@pytest.mark.parametrize(
    ("query", "value", "text"),
    [
        ("rate(node_disk_io_time_seconds_total[5m])", 0.93, "93%"),
        ("node_filesystem_avail_bytes / node_filesystem_size_bytes", 0.02, "2%"),
        ("node_filesystem_avail_bytes / node_filesystem_size_bytes * 100", 2.0, "2%"),
        ("container_memory_working_set_bytes", 2.1e9, "1.96 GiB"),
        ("probe_ssl_earliest_cert_expiry - time()", 43_100, "11h 58m"),
        ("histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m]))", 0.412, "412 ms"),
        ("sum(rate(http_requests_total[5m]))", 1250, "1.25k"),
    ],
)
def test_a_metric_value_reads_in_its_unit(query: str, value: float, text: str) -> None:
    assert schemas.quantity(value, schemas.unit_of(query)) == text
