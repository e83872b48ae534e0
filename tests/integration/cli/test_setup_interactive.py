"""``aiops setup`` as a person uses it: in a terminal (tmux), typing answers as the prompts appear.

The provider call goes to the OpenAI-compatible fake, the test post to the Slack fake, the readiness
checks to a real Prometheus (Debian's package) and the Loki fake. The test reads the screen as the
person would and waits for each prompt before typing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from services.analyst._settings import AnalystSettings
from services.cli._dotenv import read_env_file
from services.runtime import load
from tests.fakes.llm import FakeLlm
from tests.fakes.loki import FakeLoki
from tests.fakes.slack import FakeSlack
from tests.support.nats_server import free_port, wait_until
from tests.support.processes import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux not installed (apt-get install tmux)"
)

BEFORE = "# my own notes stay\nLOG_LEVEL=DEBUG\nMY_TOOL_SETTING=keep-me\n"
API_KEY = "sk-typed-by-hand-0123456789"


class Terminal:
    """One tmux pane on a tmux server of its own, running one command."""

    def __init__(self) -> None:
        self.socket = f"aiops-setup-test-{uuid.uuid4().hex[:8]}"

    async def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        return stdout.decode()

    async def start(self, command: str, env: dict[str, str]) -> None:
        # The shell stays after the command, so its last screen and exit code can be read.
        shell = f'cd {REPO} && {command}; echo "[exit $?]"; read _'
        await self.tmux("new-session", "-d", "-s", "setup", "-x", "220", "-y", "50", shell, env=env)
        self.socket_path = Path((await self.tmux("display-message", "-p", "#{socket_path}")).strip())

    async def screen(self) -> str:
        return await self.tmux("capture-pane", "-p", "-J", "-t", "setup", "-S", "-2000")

    async def wait_for(self, text: str, count: int = 1, within: float = 30.0) -> str:
        """The screen once ``text`` shows ``count`` times; fails with the screen after ``within`` s."""
        screen = ""
        try:
            async with asyncio.timeout(within):
                while (screen := await self.screen()).count(text) < count:
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{text!r} (x{count}) not on screen after {within}s:\n{screen}") from None
        return screen

    async def type(self, text: str) -> None:
        if text:
            await self.tmux("send-keys", "-t", "setup", "-l", text)
        await self.tmux("send-keys", "-t", "setup", "Enter")

    async def answer(self, prompt: str, text: str, count: int = 1) -> None:
        await self.wait_for(prompt, count)
        await self.type(text)

    async def close(self) -> None:
        await self.tmux("kill-server")
        self.socket_path.unlink(missing_ok=True)  # tmux leaves it behind


@asynccontextmanager
async def terminal(command: str) -> AsyncIterator[Terminal]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("LLM_", "DEEPSEEK_", "TMUX"))
    }
    screen = Terminal()
    await screen.start(command, {**env, "TERM": "xterm-256color"})
    try:
        yield screen
    finally:
        await screen.close()


@contextmanager
def real_prometheus() -> Iterator[str]:
    """Debian's Prometheus on a free port with an empty configuration; its base URL once /-/ready."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    with tempfile.TemporaryDirectory(prefix="setup-prom-") as work:
        config = Path(work) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")
        port = free_port()
        process = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: process.poll() is None and _answers(f"{url}/-/ready"), 30, "prometheus ready")
            yield url
        finally:
            process.terminate()
            process.wait(10)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def setup_command(env_file: Path) -> str:
    return f"{sys.executable} -m services.cli setup --env-file {env_file}"


@pytest.mark.timeout(120)
async def test_a_person_configures_llm_slack_prometheus_and_loki(tmp_path: Path, slack: FakeSlack) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(BEFORE)
    llm = await FakeLlm().start()
    try:
        with real_prometheus() as prometheus:
            async with FakeLoki() as loki, terminal(setup_command(env_file)) as screen:
                await screen.answer("Provider [6]:", "2")  # OpenAI; 6 (none) is what the file had
                await screen.answer("Base URL (LLM_BASE_URL) [https://api.openai.com/v1]:", llm.url)
                await screen.answer("Model (LLM_MODEL) [gpt-4o-mini]:", "")
                await screen.answer("API key (LLM_API_KEY; hidden; required):", API_KEY)
                await screen.wait_for("ok: gpt-4o-mini at http://127.0.0.1:")
                assert llm.calls == 1
                assert llm.requests[0].body["model"] == "gpt-4o-mini"
                assert llm.requests[0].body["response_format"] == {"type": "json_object"}

                await screen.answer("Slack incoming webhook URL (SLACK_WEBHOOK_URL; Enter: none):", slack.url)
                await screen.answer("Post a test message to it now? [y/N]:", "y")
                await screen.wait_for("ok: Slack answered 200 ok")
                assert "test message" in slack.received[0].json()["text"]

                await screen.answer(
                    "Prometheus URL (PROMETHEUS_URL; 'none': no metric evidence) [none]:", prometheus
                )
                await screen.wait_for(f"ok: {prometheus}/-/ready is ready")
                await screen.answer("Loki URL (LOKI_URL; 'none': no log evidence) [none]:", loki.url)
                await screen.wait_for(f"ok: {loki.url}/ready is ready")

                await screen.answer(f"Write them to {env_file}? [Y/n]:", "y")
                final = await screen.wait_for("[exit 0]")
    finally:
        await llm.close()

    values = read_env_file(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text().startswith(BEFORE)  # notes, order and unknown keys kept
    assert values["LLM_API_KEY"] == API_KEY
    assert values["SLACK_WEBHOOK_URL"] == slack.url
    assert (values["PROMETHEUS_URL"], values["LOKI_URL"]) == (prometheus, loki.url)
    analyst = load(AnalystSettings, values)
    assert (analyst.llm_enabled, analyst.llm_base_url, analyst.llm_model) == (True, llm.url, "gpt-4o-mini")
    # The secrets are in the file, not on the screen; the receiver block points at a token file.
    assert API_KEY not in final
    assert values["INGEST_AUTH_TOKEN"] not in final
    assert "credentials_file: /etc/alertmanager/aiops-token" in final


@pytest.mark.timeout(60)
async def test_an_unreachable_provider_shows_why_and_nothing_is_written_unless_confirmed(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(BEFORE)
    closed = free_port()
    async with terminal(setup_command(env_file)) as screen:
        await screen.answer("Provider [6]:", "1")
        await screen.answer(
            "Base URL (LLM_BASE_URL) [https://api.deepseek.com]:", f"http://127.0.0.1:{closed}/v1"
        )
        await screen.answer("Model (LLM_MODEL) [deepseek-chat]:", "")
        await screen.answer("API key (LLM_API_KEY; hidden; required):", API_KEY)
        shown = await screen.wait_for(f"FAILED: cannot connect to http://127.0.0.1:{closed}")
        assert "Connection refused" in shown
        await screen.answer("Keep these LLM settings anyway? [y/N]:", "")  # no
        await screen.wait_for("Provider [6]:", count=2)  # asked again
        await screen.tmux("send-keys", "-t", "setup", "C-c")
        final = await screen.wait_for("[exit 130]")
    assert f"Stopped: nothing written to {env_file}." in final
    assert env_file.read_text() == BEFORE
