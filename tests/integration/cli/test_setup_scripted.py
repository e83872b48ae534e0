"""``aiops setup --non-interactive``, as a provisioning script runs it: flags in, one real call to the
provider (llama.cpp's server with a real model), exit code out; a failed check writes nothing unless
``--yes``; a malformed ``.env`` is named by file and line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.analyst._settings import AnalystSettings
from services.cli._dotenv import read_env_file
from services.runtime import load
from tests.integration.cli.conftest import REPO, Run
from tests.support import llama_server
from tests.support.nats_server import free_port

BEFORE = "# provisioning notes\nLOG_LEVEL=DEBUG\n"


async def setup(env_file: Path, *args: str, stdin: str = "") -> Run:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_", "DEEPSEEK_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "setup", "--non-interactive",
        "--env-file", str(env_file), *args,
        cwd=REPO, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), 90)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture(scope="module")
def llama() -> Iterator[llama_server.LlamaServer]:
    if (why := llama_server.unavailable()) is not None:
        pytest.skip(why)
    model = llama_server.model_file()
    assert model is not None
    server = llama_server.LlamaServer(model, context_tokens=2048).start()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.timeout(180)
async def test_a_local_llama_cpp_server_is_tested_with_one_call_and_written(
    tmp_path: Path, llama: llama_server.LlamaServer
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(BEFORE)
    run = await setup(
        env_file, "--llm-provider", "llamacpp", "--llm-base-url", llama.url,
        "--llm-model", llama.model_alias, "--llm-api-key", "-", stdin=llama.api_key + "\n",
    )  # fmt: skip
    assert run.code == 0, run.stdout + run.stderr
    assert f"ok: {llama.model_alias} at http://127.0.0.1:{llama.port} answered in" in run.stdout
    settings = load(AnalystSettings, read_env_file(env_file))
    assert settings.llm_enabled
    assert (settings.llm_base_url, settings.llm_response_format) == (llama.url, "json_object_schema")
    assert llama.api_key not in run.stdout


@pytest.mark.timeout(180)
async def test_a_key_the_server_refuses_is_reported_and_not_written(
    tmp_path: Path, llama: llama_server.LlamaServer
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(BEFORE)
    run = await setup(
        env_file, "--llm-provider", "llamacpp", "--llm-base-url", llama.url,
        "--llm-model", llama.model_alias, "--llm-api-key", "not-its-key",
    )  # fmt: skip
    assert run.code == 1
    assert f"FAILED: http://127.0.0.1:{llama.port} refused the API key (401)" in run.stdout
    assert "Nothing written" in run.stdout
    assert env_file.read_text() == BEFORE


async def test_an_unreachable_provider_writes_nothing_without_yes_and_everything_with_it(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(BEFORE)
    closed = f"http://127.0.0.1:{free_port()}/v1"
    flags = ("--llm-provider", "openai", "--llm-base-url", closed, "--llm-api-key", "sk-scripted-0123456789")

    refused = await setup(env_file, *flags)
    assert refused.code == 1
    assert "FAILED: cannot connect to http://127.0.0.1:" in refused.stdout
    assert "Nothing written" in refused.stdout
    assert env_file.read_text() == BEFORE

    forced = await setup(env_file, *flags, "--yes")
    assert forced.code == 0, forced.stdout + forced.stderr
    values = read_env_file(env_file)
    assert (values["LLM_BASE_URL"], values["LLM_API_KEY"]) == (closed, "sk-scripted-0123456789")
    assert values["LOG_LEVEL"] == "DEBUG"


async def test_only_what_the_flags_name_changes_and_the_token_is_made_once(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    first = await setup(env_file, "--llm-provider", "none")
    assert first.code == 0, first.stdout + first.stderr
    token = read_env_file(env_file)["INGEST_AUTH_TOKEN"]
    assert token not in first.stdout
    second = await setup(env_file, "--slack-webhook", "https://hooks.slack.com/services/T0/B0/abcdefghijkl")
    assert second.code == 0, second.stdout + second.stderr
    values = read_env_file(env_file)
    assert values["INGEST_AUTH_TOKEN"] == token
    assert values["SLACK_WEBHOOK_URL"] == "https://hooks.slack.com/services/T0/B0/abcdefghijkl"
    assert "abcdefghijkl" not in second.stdout


async def test_a_malformed_env_file_is_named_with_its_line_and_left_alone(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=INFO\n\nLLM_API_KEY sk-missing-equals\n")
    run = await setup(env_file, "--llm-provider", "none")
    assert run.code == 1
    assert f"aiops setup: {env_file}, line 3: expected KEY=VALUE" in run.stderr
    assert "sk-missing-equals" not in run.stderr
    assert env_file.read_text() == "LOG_LEVEL=INFO\n\nLLM_API_KEY sk-missing-equals\n"


async def test_a_loopback_address_beside_a_compose_file_is_flagged_as_the_containers_own(
    tmp_path: Path,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    without_compose = tmp_path / "plain" / ".env"
    without_compose.parent.mkdir()
    run = await setup(without_compose, "--prometheus-url", closed, "--loki-url", "none", "--yes")
    assert run.code == 0, run.stdout + run.stderr
    assert "would reach itself" not in run.stdout

    beside_compose = tmp_path / "project" / ".env"
    beside_compose.parent.mkdir()
    (beside_compose.parent / "compose.yaml").write_text("services: {}\n")
    run = await setup(beside_compose, "--prometheus-url", closed, "--loki-url", "none", "--yes")
    assert run.code == 0, run.stdout + run.stderr
    assert (
        "Note: PROMETHEUS_URL is 127.0.0.1, right for `aiops up` on this machine; under docker compose each"
        " container would reach itself there: use http://prometheus:9090."
    ) in run.stdout
    assert "LOKI_URL is" not in run.stdout  # none: nothing to point anywhere
