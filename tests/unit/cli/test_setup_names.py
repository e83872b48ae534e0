"""Every name ``aiops setup`` writes is a setting a service reads (the README's configuration table),
and every way of running the pipeline reads the file it writes (compose: as an optional env_file)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.cli._config_doc import _services
from services.cli._setup import BACKENDS
from services.cli._setup_plan import PROVIDERS, SECRET_KEYS, llm_changes, token_change
from services.runtime import describe

REPO = Path(__file__).resolve().parents[3]


def setting_names() -> set[str]:
    return {name for _, settings in _services() for info in describe(settings) for name in info.env}


def test_every_name_setup_writes_is_a_setting_of_the_configuration_table() -> None:
    written = {"SLACK_WEBHOOK_URL", *(setting for _, setting, _, _ in BACKENDS), *SECRET_KEYS}
    for provider in PROVIDERS:
        written |= set(llm_changes(provider, {"DEEPSEEK_API_KEY": "x"}, model="m", key="k"))
    written |= set(token_change({}))
    assert written - setting_names() == set()


def test_every_stage_under_compose_reads_the_env_file_and_runs_without_one() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    for stage in ("ingest", "enricher", "analyst", "notifier"):
        assert compose["services"][stage]["env_file"] == [{"path": ".env", "required": False}], stage
