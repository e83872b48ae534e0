"""Browser tests' parts: Debian's Chromium driven by Selenium, the console as a real process, and the
stream and history beside it (tests/browser, and the screenshots of docs/screenshots)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

import schemas
from services.history import History
from tests.support.nats_server import free_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
# A browser's own profile folder, removed when it closes.
PROFILES: dict[int, str] = {}


def browser_missing() -> str:
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.exists():
            return f"{binary} is absent: install Debian's {package} package to run the browser tests"
    return ""


@dataclass
class ConsoleProcess:
    """``python -m services.console`` against the test's nats-server and SQLite file."""

    nats_url: str
    database_url: str
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> ConsoleProcess:
        self.port = free_port()
        env = {
            **os.environ,
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "CONSOLE_HOST": "127.0.0.1",
            "CONSOLE_PORT": str(self.port),
            **self.env,
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.console"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready, 20, "the console's /readyz")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"console exited:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class World:
    """What the browser tests act on besides the page: the stream and the history."""

    def __init__(self, nats_url: str, database_url: str, console: ConsoleProcess) -> None:
        self.nats_url = nats_url
        self.database_url = database_url
        self.console = console

    def store(
        self,
        alerts: Sequence[schemas.AnalyzedAlert] = (),
        incidents: Sequence[schemas.IncidentEvent] = (),
        feedback: Sequence[schemas.Feedback] = (),
    ) -> None:
        async def write() -> None:
            history = await History.open(self.database_url)
            try:
                await history.write(alerts=alerts, incidents=incidents, feedback=feedback)
            finally:
                await history.close()

        asyncio.run(write())

    def publish(self, subject: str, message: Any, msg_id: str) -> None:
        async def send() -> None:
            nc = await nats.connect(self.nats_url)
            try:
                await nc.jetstream().publish(
                    subject, schemas.encode(message), headers={schemas.MSG_ID_HEADER: msg_id}
                )
            finally:
                await nc.close()

        asyncio.run(send())

    def feedback_for(self, target_id: str) -> schemas.Feedback | None:
        async def read() -> schemas.Feedback | None:
            history = await History.open(self.database_url)
            try:
                return await history.feedback_for(target_id)
            finally:
                await history.close()

        return asyncio.run(read())

    def published_feedback(self) -> list[schemas.Feedback]:
        async def read() -> list[schemas.Feedback]:
            from tests.support.stream import read_subject, subject_count

            nc = await nats.connect(self.nats_url)
            try:
                js = nc.jetstream()
                count = await subject_count(js, schemas.FEEDBACK)
                return (
                    await read_subject(js, schemas.FEEDBACK, schemas.Feedback, count=count) if count else []
                )
            finally:
                await nc.close()

        return asyncio.run(read())


def new_browser(width: int = 1400, height: int = 1000) -> Any:
    """Headless Chromium with a fresh profile that makes no request of its own (no sync, no updates)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    PROFILES[id(driver)] = profile
    return driver


def close_browser(driver: Any) -> None:
    driver.quit()
    shutil.rmtree(PROFILES.pop(id(driver), ""), ignore_errors=True)
