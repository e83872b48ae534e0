"""Plain progress lines: what a log file or CI shows instead of a bar."""

from __future__ import annotations

import io

from services.cli._progress import Tracker, plain_line


def test_a_line_gives_count_share_rate_and_time_left() -> None:
    assert plain_line("replay", 1200, 5000, 4.0) == "replay: 1,200/5,000 (24%) 300/s, ETA 13 s"
    assert plain_line("replay", 2, 7200 * 2 + 2, 2.0) == "replay: 2/14,402 (0%) 1/s, ETA 4h"


def test_a_finished_or_unsized_run_has_no_eta() -> None:
    assert plain_line("redrive", 40, 40, 2.0) == "redrive: 40/40 (100%) 20/s"
    assert plain_line("redrive", 40, None, 2.0) == "redrive: 40 so far, 20/s"
    assert plain_line("redrive", 0, 0, 0.0) == "redrive: 0/0 (100%) 0/s"


def test_not_on_a_terminal_it_writes_lines_not_a_bar() -> None:
    sink = io.StringIO()
    with Tracker("replay", file=sink, plain_seconds=0) as progress:
        progress.start(2)
        progress.note("replayed 0123456789ab HighCPUUsage")
        progress.advance()
        progress.advance()
    lines = sink.getvalue().splitlines()
    assert not progress.terminal
    assert lines[0] == "replay: 2 message(s) to go through"
    assert lines[1] == "replayed 0123456789ab HighCPUUsage"
    assert lines[2].startswith("replay: 1/2 (50%)")
    assert lines[3].startswith("replay: 2/2 (100%)")
    assert "\x1b[" not in sink.getvalue()


def test_plain_lines_are_spaced_by_the_interval() -> None:
    sink = io.StringIO()
    with Tracker("replay", file=sink, plain_seconds=3600) as progress:
        progress.start(1000)
        for _ in range(1000):
            progress.advance()
    assert sink.getvalue().splitlines() == ["replay: 1,000 message(s) to go through"]
