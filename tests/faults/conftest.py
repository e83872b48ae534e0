"""Fixtures of the faults suite, and the one table it prints at the end (``just faults``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faults._report import NOTES, ROWS, table
from tests.faults._sink import Sink


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    server = await Sink().start()
    yield server
    await server.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("faults: what each scenario sent, kept and lost")
        terminalreporter.write_line(table(ROWS))
    if NOTES:
        terminalreporter.section("faults: hostile input")
        for note in NOTES:
            terminalreporter.write_line(note)
