"""The list's filters: what a URL asks for, and whether a live row belongs on that page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console._filters import Filters, words_match
from services.console._rows import alert_row, alert_text
from tests.support.history import analyzed


def test_values_that_do_not_parse_do_not_filter() -> None:
    f = Filters.parse(
        {
            "range": "forever",
            "status": "exploded",
            "degraded": "maybe",
            "analyzer": "oracle",
            "severity": " critical ",
            "q": "x" * 500,
        }
    )
    assert (f.range, f.status, f.degraded, f.analyzer) == ("", "", "", "")
    assert f.severity == "critical"
    assert len(f.q) == 200


def test_the_form_becomes_the_history_queries() -> None:
    now = datetime.now(UTC)
    f = Filters.parse(
        {
            "range": "1h",
            "status": "firing",
            "degraded": "yes",
            "q": "disk full",
            "before": "1700000000000000~a1",
        }
    )
    query = f.alert_query()
    assert query.since is not None
    assert now - timedelta(hours=1, seconds=5) < query.since <= now - timedelta(minutes=59)
    assert (query.status, query.degraded, query.text, query.before) == (
        "firing",
        True,
        "disk full",
        "1700000000000000~a1",
    )
    assert f.incident_query().status == "open"  # an incident is open while its alerts fire
    assert "before" not in f.params()  # the live stream and links start from the newest


def test_a_live_row_is_matched_as_the_history_would_match_it() -> None:
    message = analyzed(
        1, alertname="DiskFull", labels={"severity": "critical"}, summary="volume data-7 is full"
    )
    row, text = alert_row(message), alert_text(message)
    assert Filters.parse({"severity": "CRITICAL", "q": "volume full"}).matches_alert(row, text)
    assert not Filters.parse({"severity": "warning"}).matches_alert(row, text)
    assert not Filters.parse({"q": "vol"}).matches_alert(row, text)  # whole words, not substrings
    assert not Filters.parse({"status": "resolved"}).matches_alert(row, text)
    assert not Filters.parse({"degraded": "yes"}).matches_alert(row, text)
    assert not Filters.parse({"until": "2000-01-01T00:00:00"}).matches_alert(row, text)
    assert Filters.parse({"status": "firing"}).matches_alert(row, text)
    ended = alert_row(message, ended_at=message.received_at)  # its resolution has arrived since
    assert not Filters.parse({"status": "firing"}).matches_alert(ended, text)  # no longer firing


def test_words_match_on_word_boundaries() -> None:
    assert words_match("disk", "the disk is full")
    assert not words_match("disk", "diskless node")
    assert words_match("", "anything")
