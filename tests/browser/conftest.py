"""A real Chromium (Debian's chromium + chromium-driver, through Selenium) in front of a real console
process, a real nats-server and an SQLite history: the console as a person uses it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import ConsoleProcess, World, browser_missing, close_browser, new_browser
from tests.support.nats_server import NatsServer


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if missing := browser_missing():
        pytest.skip(missing)
    server = NatsServer().start()
    folder = Path(tempfile.mkdtemp(prefix="console-browser-"))
    database_url = f"sqlite:///{folder / 'history.db'}"
    console = ConsoleProcess(server.url, database_url, folder / "console.log", {}).start()
    try:
        yield World(server.url, database_url, console)
    finally:
        console.stop()
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if missing := browser_missing():
        pytest.skip(missing)
    driver = new_browser()
    try:
        yield driver
    finally:
        close_browser(driver)
