"""The README is the first thing a user runs from; what it shows must be what the code does."""

from __future__ import annotations

from pathlib import Path

from services.analyst import load_catalogue
from services.cli._config_doc import config_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_configuration_table_lists_every_setting_as_the_code_defines_it() -> None:
    assert config_table() in README.read_text(), "run `just docs` to regenerate the configuration table"


def test_the_original_designs_variable_names_are_documented() -> None:
    text = README.read_text()
    for name in ("PROMETHEUS_URL", "LOKI_URL", "DEEPSEEK_API_KEY", "DEEPSEEK_API_URL", "DEEPSEEK_MODEL",
                 "LLM_TIMEOUT", "LLM_TEMPERATURE", "LLM_MAX_RETRIES", "TIME_WINDOW_MINUTES", "MAX_LOG_LINES",
                 "MAX_METRICS_POINTS", "SLACK_WEBHOOK_URL", "GENERIC_WEBHOOK_URL", "NATS_URL", "INGEST_PORT",
                 "INGEST_AUTH_TOKEN", "INGEST_BASIC_AUTH", "LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL",
                 "MAX_IN_FLIGHT", "LOG_LEVEL", "LOG_FORMAT"):  # fmt: skip
        assert f"`{name}`" in text, name


def test_the_two_commands_are_shown() -> None:
    text = README.read_text()
    assert "just demo" in text
    assert "just test" in text


def test_the_rules_analyst_is_described_with_the_catalogue_it_ships() -> None:
    catalogue = load_catalogue()
    said = f"({len(catalogue.rules)} rules and {len(catalogue.signals)} word signals in YAML"
    assert said in README.read_text().replace("\n", " "), said
