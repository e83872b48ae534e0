"""Bad input: long lines, huge tokens, binary junk. Redaction returns, keeps the text, and removes the secret.

Time is measured in ``bench.redaction`` (a ratio against ordinary lines); here only what a user would see.
"""

from __future__ import annotations

import random

from services.privacy import redact

SECRET = "password=Maple774-OcAa2"


def test_a_secret_in_the_middle_of_a_64_kb_line_goes_and_the_rest_stays() -> None:
    words = random.Random(7).choices(["error", "timeout", "payments", "db", "conn", "retry"], k=20_000)
    half = " ".join(words)[:32_000]
    line = f"{half} {SECRET} {half}"
    redacted = redact(line)
    assert "Maple774-OcAa2" not in redacted
    assert redacted == f"{half} password=<secret:password> {half}"


def test_a_million_character_token_comes_back_whole() -> None:
    token = "A" * 1_000_000
    assert redact(token) == token
    line = f"{token} {SECRET}"
    assert redact(line) == f"{token} password=<secret:password>"


def test_repeated_prefixes_of_secrets_that_never_complete_come_back_whole() -> None:
    for junk in (
        "eyJ" * 30_000,
        "AKIA " * 20_000,
        "://a:" * 20_000,
        "xox" * 20_000,
        "Bearer " * 9_000,
    ):
        assert redact(junk) == junk


def test_a_run_of_keywords_loses_only_values() -> None:
    junk = "password=" * 10_000
    redacted = redact(junk)
    assert set(redacted.replace("<secret:password>", "=")) <= set("password=")


def test_binary_junk_decoded_with_replacement_keeps_its_text() -> None:
    junk = random.Random(3).randbytes(65_536).decode("utf-8", errors="replace")
    redacted = redact(f"{junk}\n{SECRET}")
    assert redacted.startswith(junk[:1000])
    assert redacted.endswith("password=<secret:password>")


def test_a_secret_across_a_segment_border_is_still_found() -> None:
    for filler in ("x " * 1022, "x" * 2040 + " "):
        line = f"{filler}token=Zk3mQ9pL2xVb7Wc4 tail"
        assert redact(line) == f"{filler}token=<secret:token> tail"
