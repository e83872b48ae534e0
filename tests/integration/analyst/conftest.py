"""The fake chat-completions server and settings pointing at it."""

from __future__ import annotations

from typing import Any

from services.analyst import AnalystSettings
from tests.fakes.llm import FakeLlm


def llm_settings(fake: FakeLlm, **overrides: Any) -> AnalystSettings:
    values: dict[str, Any] = {
        "llm_api_key": "sk-test-not-a-secret",
        "llm_base_url": fake.url,
        "llm_retry_base_seconds": 0.01,
        "llm_timeout": 5.0,
        **overrides,
    }
    return AnalystSettings(**values)
