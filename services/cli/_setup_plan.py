"""What ``aiops setup`` would write, decided without I/O: the providers, the LLM settings one of them
means, what changes in ``.env``, how a secret is shown, and the Alertmanager receiver block.

Setting names are the services' own (README's configuration table).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Shown masked: never printed whole, on screen or anywhere else.
SECRET_KEYS = frozenset({"LLM_API_KEY", "DEEPSEEK_API_KEY", "SLACK_WEBHOOK_URL", "INGEST_AUTH_TOKEN"})
ALERTMANAGER_TOKEN_FILE = "/etc/alertmanager/aiops-token"


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    base_url: str = ""
    # Empty: the person must name one (the served model of their own server).
    model: str = ""
    # Keyless servers take any non-empty key (the analyst calls the LLM only when a key is set).
    key: str = ""
    # Written with the provider, replacing what was there: they belong to the provider.
    settings: dict[str, str] = field(default_factory=dict)
    # Written only where the file has no value: the person may have tuned them since.
    tuning: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """The name alone: "OpenAI", "llama.cpp server"."""
        return self.title.split(" (")[0].split(",")[0]

    @property
    def needs_key(self) -> bool:
        return self.name != "none" and not self.key


PROVIDERS = (
    Provider("deepseek", "DeepSeek (API key)", "https://api.deepseek.com", "deepseek-chat"),
    Provider(
        "openai",
        "OpenAI, or another OpenAI-compatible API (API key)",
        "https://api.openai.com/v1",
        "gpt-4o-mini",
    ),
    Provider(
        "ollama",
        "Ollama (local, keyless)",
        "http://127.0.0.1:11434/v1",
        "qwen2.5:7b-instruct",
        key="ollama",
        tuning={"LLM_TIMEOUT": "300", "LLM_CONCURRENCY": "2"},
    ),
    Provider(
        "vllm",
        "vLLM (its --api-key, or any)",
        "http://vllm:8000/v1",
        key="vllm",
        settings={"LLM_RESPONSE_FORMAT": "json_schema"},
    ),
    Provider(
        "llamacpp",
        "llama.cpp server (local, keyless)",
        "http://127.0.0.1:8080/v1",
        key="local",
        settings={"LLM_RESPONSE_FORMAT": "json_object_schema"},
        tuning={"LLM_TIMEOUT": "300", "LLM_CONCURRENCY": "1"},
    ),
    Provider("none", "none: the embedded rules engine, no LLM"),
)
BY_NAME = {provider.name: provider for provider in PROVIDERS}


def first(values: Mapping[str, str], *names: str) -> str:
    """The value of the first name set, as the services read a setting and its aliases."""
    return next((values[name] for name in names if values.get(name)), "")


def current_key(values: Mapping[str, str]) -> str:
    return first(values, "LLM_API_KEY", "DEEPSEEK_API_KEY")


def current_base_url(values: Mapping[str, str]) -> str:
    return first(values, "LLM_BASE_URL", "DEEPSEEK_API_URL")


def current_model(values: Mapping[str, str]) -> str:
    return first(values, "LLM_MODEL", "DEEPSEEK_MODEL")


def current_provider(values: Mapping[str, str]) -> Provider:
    """The provider the file configures; an endpoint not in the list counts as OpenAI-compatible."""
    if not current_key(values):
        return BY_NAME["none"]
    base_url = current_base_url(values).rstrip("/")
    if not base_url:
        return BY_NAME["deepseek"]
    known = (p for p in PROVIDERS if p.base_url and p.base_url.rstrip("/") == base_url)
    return next(known, BY_NAME["openai"])


def llm_changes(
    provider: Provider, values: Mapping[str, str], base_url: str = "", model: str = "", key: str = ""
) -> dict[str, str]:
    """The settings that select ``provider``; empty arguments take its defaults."""
    if provider.name == "none":
        # Both names: either one set would still select the LLM.
        return {name: "" for name in ("LLM_API_KEY", "DEEPSEEK_API_KEY") if values.get(name)} or {
            "LLM_API_KEY": ""
        }
    changes = {
        "LLM_API_KEY": key or provider.key,
        "LLM_BASE_URL": base_url or provider.base_url,
        "LLM_MODEL": model or provider.model,
        "LLM_RESPONSE_FORMAT": "",
        **provider.settings,
    }
    changes.update({name: value for name, value in provider.tuning.items() if not values.get(name)})
    return changes


def token_change(values: Mapping[str, str]) -> dict[str, str]:
    """A new INGEST_AUTH_TOKEN unless the file has one."""
    return {} if values.get("INGEST_AUTH_TOKEN") else {"INGEST_AUTH_TOKEN": secrets.token_urlsafe(32)}


def changed(values: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The changes that differ from the file (a key absent counts as empty)."""
    return {name: value for name, value in changes.items() if values.get(name, "") != value}


def shown(name: str, value: str) -> str:
    """A value as it may be printed: secrets by their last four characters at most."""
    if not value:
        return "(empty)"
    if name not in SECRET_KEYS:
        return value
    return f"…{value[-4:]}" if len(value) >= 16 else "****"


def receiver_block(env_file: Path, values: Mapping[str, str]) -> str:
    """The Alertmanager receiver for ingest; the token stays in files, referenced by path."""
    port = values.get("INGEST_PORT") or "8000"
    lines = [
        "Point Alertmanager at ingest: add this receiver to alertmanager.yml and route alerts to it.",
        "",
        "receivers:",
        "  - name: aiops",
        "    webhook_configs:",
        f"      - url: http://127.0.0.1:{port}/webhook/alertmanager",
        "        send_resolved: true",
        "        max_alerts: 0",
    ]
    if values.get("INGEST_AUTH_TOKEN"):
        lines += [
            "        http_config:",
            "          authorization:",
            "            type: Bearer",
            f"            credentials_file: {ALERTMANAGER_TOKEN_FILE}",
            "",
            f"The token is INGEST_AUTH_TOKEN in {env_file}; put it in that file, readable by Alertmanager:",
            f"  sed -n 's/^INGEST_AUTH_TOKEN=//p' {env_file} | sudo tee {ALERTMANAGER_TOKEN_FILE} >/dev/null",
            "(docker compose mounts it into its Alertmanager itself: infra/alertmanager/alertmanager.yml.)",
        ]
    return "\n".join(lines)


# The files docker compose reads a project from, in a folder holding its `.env`.
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
# The addresses the containers use, and what compose.yaml names each server the containers reach.
CONTAINER_ADDRESSES = {
    "PROMETHEUS_URL": "http://prometheus:9090",
    "LOKI_URL": "http://loki:3100",
    "LLM_BASE_URL": "http://ollama:11434/v1 with `--profile local-llm`, or the host's own address",
}
# 0.0.0.0 as an address to reach is this machine too (Linux connects it to the loopback).
_LOOPBACK = re.compile(r"^(?:localhost|127(?:\.\d{1,3}){3}|::1|0\.0\.0\.0)$", re.IGNORECASE)


def loopback_under_compose(env_file: Path, values: Mapping[str, str]) -> list[str]:
    """Notes on the addresses that would point every container at itself: setup tries them from
    here, where 127.0.0.1 is this machine, and compose hands the same file to each container."""
    if not any((env_file.parent / name).is_file() for name in COMPOSE_FILES):
        return []
    notes = []
    for setting, instead in CONTAINER_ADDRESSES.items():
        host = urlsplit(values.get(setting, "")).hostname or ""
        if _LOOPBACK.match(host):
            notes.append(
                f"Note: {setting} is {host}, right for `aiops up` on this machine; under docker compose"
                f" each container would reach itself there: use {instead}."
            )
    return notes
