"""What ``aiops setup`` decides to write: the settings each provider means, read back by the analyst
exactly as it will run; what it keeps; how secrets are shown; the Alertmanager receiver it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from services.analyst._settings import AnalystSettings
from services.cli._setup_plan import (
    BY_NAME,
    changed,
    current_provider,
    llm_changes,
    loopback_under_compose,
    receiver_block,
    shown,
    token_change,
)
from services.runtime import load


def analyst_with(values: dict[str, str]) -> AnalystSettings:
    return load(AnalystSettings, values)


@pytest.mark.parametrize("name", ["ollama", "llamacpp", "vllm"])
def test_a_keyless_server_still_turns_the_llm_on(name: str) -> None:
    provider = BY_NAME[name]
    settings = analyst_with(llm_changes(provider, {}, model="served-model"))
    assert settings.llm_enabled
    assert settings.llm_base_url == provider.base_url
    assert settings.llm_model == "served-model"


def test_llama_cpp_gets_its_schema_mode_and_patient_timeouts() -> None:
    settings = analyst_with(llm_changes(BY_NAME["llamacpp"], {}, model="smollm2"))
    assert settings.llm_response_format == "json_object_schema"
    assert settings.llm_timeout == 300
    assert settings.llm_concurrency == 1


def test_tuning_someone_did_by_hand_is_kept_but_the_provider_format_is_not() -> None:
    before = {"LLM_TIMEOUT": "900", "LLM_RESPONSE_FORMAT": "json_object_schema"}
    changes = llm_changes(BY_NAME["ollama"], before)
    assert "LLM_TIMEOUT" not in changes
    settings = analyst_with({**before, **changes})
    assert settings.llm_timeout == 900
    # The llama.cpp-only format would break Ollama: switching provider resets it.
    assert settings.llm_response_format == "json_object"


def test_none_turns_the_llm_off_under_either_key_name() -> None:
    before = {"DEEPSEEK_API_KEY": "sk-old-deepseek-key-0001", "LLM_API_KEY": "sk-other-key-0002"}
    assert analyst_with(before).llm_enabled
    after = {**before, **llm_changes(BY_NAME["none"], before)}
    assert not analyst_with(after).llm_enabled


def test_the_current_provider_is_recognised_from_the_file() -> None:
    assert current_provider({"DEEPSEEK_API_KEY": "sk-x"}) is BY_NAME["deepseek"]
    assert current_provider({}) is BY_NAME["none"]
    assert (
        current_provider({"LLM_API_KEY": "k", "LLM_BASE_URL": "http://127.0.0.1:11434/v1/"})
        is BY_NAME["ollama"]
    )
    # A LiteLLM proxy, say: offered as OpenAI-compatible, with its own URL as the default to keep.
    assert current_provider({"LLM_API_KEY": "k", "LLM_BASE_URL": "http://litellm:4000"}) is BY_NAME["openai"]


def test_only_real_differences_are_written() -> None:
    values = {"LLM_MODEL": "deepseek-chat", "LOG_LEVEL": "DEBUG"}
    changes = {"LLM_MODEL": "deepseek-chat", "LLM_RESPONSE_FORMAT": "", "LLM_API_KEY": "sk-1"}
    assert changed(values, changes) == {"LLM_API_KEY": "sk-1"}


def test_the_ingest_token_is_generated_once() -> None:
    token = token_change({})["INGEST_AUTH_TOKEN"]
    assert len(token) >= 40
    assert token != token_change({})["INGEST_AUTH_TOKEN"]
    assert token_change({"INGEST_AUTH_TOKEN": token}) == {}


def test_secrets_are_shown_by_their_last_four_characters_at_most() -> None:
    assert shown("LLM_API_KEY", "sk-0123456789abcdef") == "…cdef"
    assert shown("INGEST_AUTH_TOKEN", "short") == "****"
    assert shown("LLM_MODEL", "gpt-4o-mini") == "gpt-4o-mini"


def test_the_receiver_block_is_alertmanager_yaml_referencing_the_token_by_file() -> None:
    token = "a-token-that-must-stay-in-files-only"
    text = receiver_block(Path(".env"), {"INGEST_AUTH_TOKEN": token, "INGEST_PORT": "8100"})
    assert token not in text
    block = yaml.safe_load(text.split("\n\n")[1])
    webhook = block["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://127.0.0.1:8100/webhook/alertmanager"
    assert webhook["http_config"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/alertmanager/aiops-token",
    }


@pytest.mark.parametrize(
    ("url", "flagged"),
    [
        ("http://127.0.0.1:9090", True),
        ("http://localhost:9090", True),
        ("http://[::1]:9090", True),
        ("http://0.0.0.0:9090", True),
        ("http://prometheus:9090", False),
        ("http://10.0.0.7:9090", False),
        ("", False),
    ],
)
def test_an_address_every_container_would_reach_itself_at_is_flagged_beside_a_compose_file(
    tmp_path: Path, url: str, flagged: bool
) -> None:
    env_file = tmp_path / ".env"
    assert loopback_under_compose(env_file, {"PROMETHEUS_URL": url}) == []  # no compose file: aiops up
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    notes = loopback_under_compose(env_file, {"PROMETHEUS_URL": url})
    assert bool(notes) == flagged
    if flagged:
        assert "use http://prometheus:9090" in notes[0]
