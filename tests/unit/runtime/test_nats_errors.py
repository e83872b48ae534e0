"""A connection error that lasts is logged once, then once a minute with how many attempts failed."""

from __future__ import annotations

from services.runtime._nats_errors import RepeatedErrors


def test_the_same_error_is_said_again_once_a_minute_with_the_attempts_meanwhile() -> None:
    now = [0.0]
    errors = RepeatedErrors(every=60.0, clock=lambda: now[0])
    said = []
    for _ in range(241):  # two minutes of one attempt each half second, and the next
        said.append(errors.line("refused"))
        now[0] += 0.5
    assert [line for line in said if line is not None] == [
        "refused",
        "refused (still: 120 attempts in 60s)",
        "refused (still: 120 attempts in 60s)",
    ]


def test_another_error_or_a_reconnection_is_said_at_once() -> None:
    errors = RepeatedErrors(every=60.0, clock=lambda: 0.0)
    assert errors.line("refused") == "refused"
    assert errors.line("refused") is None
    assert errors.line("Connect call failed") == "Connect call failed"
    errors.clear()
    assert errors.line("Connect call failed") == "Connect call failed"


def test_a_clusters_servers_failing_in_turn_are_each_said_once_a_minute() -> None:
    now = [0.0]
    errors = RepeatedErrors(every=60.0, clock=lambda: now[0])
    said = []
    for attempt in range(360):  # three servers tried in turn, one each half second, for three minutes
        said.append(errors.line(f"Connect call failed ('127.0.0.1', {4222 + attempt % 3})"))
        now[0] += 0.5
    lines = [line for line in said if line is not None]
    assert len(lines) == 9  # each server at once, then once a minute each
    assert lines[:3] == [f"Connect call failed ('127.0.0.1', {port})" for port in (4222, 4223, 4224)]
