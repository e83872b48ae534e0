"""History's pure parts: clipping, search expressions, cursors, migrations as files."""

from __future__ import annotations

import pytest

from services.history import BadCursor
from services.history._db import backend_of, split_statements, sqlite_path
from services.history._filters import cursor, fts_match, parse_cursor
from services.history._migrations import migrations
from services.history._write import MAX_VALUE_CHARS, alert_row, clip, clipped
from tests.support.history import analyzed


def test_a_long_value_is_clipped_with_a_marker_saying_how_much_is_missing() -> None:
    text = "é" * (MAX_VALUE_CHARS + 500)
    assert clip(text) == "é" * MAX_VALUE_CHARS + "… [clipped: 500 more characters not stored]"
    assert clip("short") == "short"


def test_only_a_message_with_an_over_long_value_is_rebuilt() -> None:
    message = analyzed(1)
    assert clipped(message) is message
    long = analyzed(1, annotations={"description": "x" * 10_000_000}, labels={"pod": "p" * 100_000})
    kept = clipped(long)
    assert len(kept.alert.annotations["description"]) < MAX_VALUE_CHARS + 100
    assert kept.alert.labels["pod"].endswith("more characters not stored]")
    assert kept.alert.labels["alertname"] == "HighCPU"


def test_a_stored_row_carries_the_columns_a_list_filters_on() -> None:
    row = alert_row(analyzed(1, labels={"severity": "critical", "service": "payments"}, incident_id="inc-1"))
    assert row[0] == "a0000001"
    assert {"critical", "payments", "inc-1"} <= set(row)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("disk full", '"disk" "full"'),
        ('say "hi"', '"say" """hi"""'),
        ("NEAR(a b) OR *", '"NEAR(a" "b)" "OR"'),
        ("-- ; '", ""),
    ],
)
def test_search_text_becomes_quoted_phrases_so_no_operator_gets_through(text: str, expected: str) -> None:
    assert fts_match(text) == expected


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    assert parse_cursor(cursor(1700000000123456, "a~b")) == (1700000000123456, "a~b")
    for forged in ("", "abc", "12", "x~y", "~id"):
        with pytest.raises(BadCursor):
            parse_cursor(forged)


def test_a_trigger_body_stays_one_statement() -> None:
    script = (
        "-- a comment\nCREATE TABLE t (a INTEGER);\n"
        "CREATE TRIGGER t_i AFTER INSERT ON t BEGIN\n"
        "  INSERT INTO u VALUES (1);\n  INSERT INTO u VALUES (2);\nEND;\n"
        "-- trailing comment\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///.data/history.db") == ".data/history.db"
    assert sqlite_path("sqlite:////var/lib/history.db") == "/var/lib/history.db"
    assert backend_of("postgresql://u:p@db:5432/aiops") == "postgresql"
    assert backend_of("postgres://db/aiops") == "postgresql"
    with pytest.raises(ValueError, match="sqlite:// or postgresql://"):
        backend_of("mysql://db/aiops")


def test_both_backends_have_the_same_numbered_migrations() -> None:
    sqlite, postgresql = migrations("sqlite"), migrations("postgresql")
    assert [(m.version, m.name) for m in sqlite] == [(m.version, m.name) for m in postgresql]
    assert [m.version for m in sqlite] == list(range(1, len(sqlite) + 1))
