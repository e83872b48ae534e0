"""Settings from the environment: which destinations plain variables make, and --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.notifier import NotifierSettings, router_from
from services.runtime import ConfigError, load


def test_plain_variables_make_one_default_route() -> None:
    settings = load(
        NotifierSettings,
        {
            "SLACK_WEBHOOK_URL": "https://hooks.slack.example/T/B/x",
            "GENERIC_WEBHOOK_URL": "https://a.example/hook, https://b.example/hook",
            "WEBHOOK_SECRET": "k",
            "FLAP_GUARD_SECONDS": "30",
        },
    )
    router = router_from(settings)
    assert [(d.name, d.type) for d in router.destinations] == [
        ("slack", "slack"),
        ("webhook-1", "webhook"),
        ("webhook-2", "webhook"),
    ]
    assert {t.flap_guard_seconds for t in router.default} == {30.0}
    assert all(d.secret == "k" for d in router.destinations if d.type == "webhook")


def test_nothing_configured_means_no_destination() -> None:
    assert router_from(load(NotifierSettings, {})).destinations == []
    assert load(NotifierSettings, {}).health_port == 8003


def test_a_bad_url_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        router_from(load(NotifierSettings, {"SLACK_WEBHOOK_URL": "hooks.slack.example/T/B/secret"}))
    assert "secret" not in str(caught.value)


def test_help_lists_the_notifier_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.notifier", "--help"], capture_output=True, text=True, check=True
    )
    assert "SLACK_WEBHOOK_URL" in result.stdout
    assert "ROUTES_FILE" in result.stdout
