"""History's pure parts: clipping, search expressions, cursors, migrations as files."""

from __future__ import annotations

import zlib

import pytest

import schemas
from services.history import BadCursor
from services.history._db import backend_of, split_statements, sqlite_path
from services.history._filters import cursor, fts_match, parse_cursor
from services.history._migrations import migrations
from services.history._write import (
    COMPRESS_ABOVE,
    MAX_VALUE_CHARS,
    alert_row,
    body,
    clip,
    clipped,
    message_of,
    stored_json,
)
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


def test_a_short_body_is_stored_as_its_json_a_long_one_compressed_and_both_read_back() -> None:
    short = analyzed(1)
    long = analyzed(2, annotations={"description": "disk filling on checkout " * 400})
    short_json, long_json = schemas.encode(short), schemas.encode(long)
    assert len(short_json) <= COMPRESS_ABOVE < len(long_json)
    assert body(short_json) == short_json
    assert len(body(long_json)) < len(long_json) // 10
    assert message_of(body(short_json), schemas.AnalyzedAlert) == short
    assert message_of(body(long_json), schemas.AnalyzedAlert) == long
    # Rows of the versions that compressed every body read as before.
    assert message_of(zlib.compress(short_json, 1), schemas.AnalyzedAlert) == short
    # JSON from another writer may start with white space: it is compressed, so it reads back too.
    spaced = b"\n " + short_json
    assert message_of(body(spaced), schemas.AnalyzedAlert) == short


def test_the_json_an_analysis_arrived_as_is_kept_unless_a_value_is_clipped() -> None:
    message = analyzed(1)
    data = schemas.encode(message)
    assert stored_json(message, data) == (message, data)
    assert stored_json(message, data)[1] is data
    huge = analyzed(1, annotations={"description": "x" * 100_000})
    kept, kept_json = stored_json(huge, schemas.encode(huge))
    assert kept == clipped(huge) != huge
    assert kept_json == schemas.encode(kept)
    assert alert_row(huge, schemas.encode(huge)) == alert_row(huge)


def test_fields_the_contract_does_not_know_cannot_make_a_row_as_large_as_they_like() -> None:
    message = analyzed(1)
    sent = schemas.encode(message)[:-1] + b',"from_a_newer_sender":"' + b"y" * 100_000 + b'"}'
    decoded = schemas.decode(sent, schemas.AnalyzedAlert)
    kept, kept_json = stored_json(decoded, sent)
    assert kept == message
    assert kept_json == schemas.encode(message)


def test_a_nul_in_a_label_is_replaced_in_the_row_but_kept_in_the_body() -> None:
    message = analyzed(1, labels={"pod": "web\x00-1"})
    row = alert_row(message, schemas.encode(message))
    assert not any(isinstance(value, str) and "\x00" in value for value in row)
    assert "web\ufffd-1" in row[-2]
    assert message_of(row[-1], schemas.AnalyzedAlert) == message


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
    # "²" is a digit to str.isdigit, not to int(); 19 digits are more than a 64-bit integer holds.
    for forged in ("", "abc", "12", "x~y", "~id", "²~id", "1" * 19 + "~id"):
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
