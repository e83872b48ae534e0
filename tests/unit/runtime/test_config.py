from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from services.runtime import ConfigError, StageSettings, doc, help_text, load, masked
from services.runtime._config import masked_changes


class ExampleSettings(StageSettings, kw_only=True, frozen=True):
    api_key: Annotated[str, doc("Provider key", aliases=["LEGACY_API_KEY"], secret=True)] = ""
    window_minutes: Annotated[int, doc("Minutes around the alert")] = 15
    verbose: Annotated[bool, doc("Say more")] = False


def test_defaults_environment_and_aliases() -> None:
    settings = load(ExampleSettings, {"LEGACY_API_KEY": "k-1", "WINDOW_MINUTES": "30", "VERBOSE": "yes"})
    assert settings.api_key == "k-1"
    assert settings.window_minutes == 30
    assert settings.verbose is True
    assert settings.max_in_flight == 64
    assert load(ExampleSettings, {"API_KEY": "new", "LEGACY_API_KEY": "old"}).api_key == "new"


def test_lists_are_comma_separated() -> None:
    assert load(ExampleSettings, {"RETRY_BACKOFF_SECONDS": "1, 2.5,10"}).retry_backoff_seconds == [1, 2.5, 10]


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"WINDOW_MINUTES must be a int \(got 'soon'\)"):
        load(ExampleSettings, {"WINDOW_MINUTES": "soon"})
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load(ExampleSettings, {"LOG_FORMAT": "xml"})


def test_secrets_are_masked_everywhere_they_are_shown() -> None:
    settings = load(ExampleSettings, {"API_KEY": "sk-very-secret", "NATS_TOKEN": "nats-secret"})
    shown = str(masked(settings))
    assert "sk-very-secret" not in shown
    assert "nats-secret" not in shown
    assert shown.count("********") == 2
    with pytest.raises(ConfigError) as error:
        load(ExampleSettings, {"API_KEY": "sk-very-secret", "VERBOSE": "sk-very-secret"})
    assert "sk-very-secret" not in str(error.value)
    assert "API_KEY | LEGACY_API_KEY" in help_text(ExampleSettings, "prog", "summary")


def test_settings_are_frozen() -> None:
    settings = load(ExampleSettings, {})
    with pytest.raises(AttributeError):
        settings.window_minutes = 1  # type: ignore[misc]
    assert msgspec.structs.replace(settings, window_minutes=5).window_minutes == 5


def test_a_secret_settings_default_is_shown_as_the_source_has_it() -> None:
    from services.history._settings import HistorySettings

    text = help_text(HistorySettings, "python -m services.history", "summary")
    assert "[default: sqlite:///.data/history.db]" in text  # the embedded default, not ********
    settings = load(HistorySettings, {"DATABASE_URL": "postgresql://aiops:pg-secret@db/history"})
    assert "pg-secret" not in str(masked(settings))


@pytest.mark.parametrize(
    ("nats_url", "shown"),
    [
        ("aiops:s3cret@127.0.0.1:4222", "aiops:********@127.0.0.1:4222"),  # nats-py adds nats://
        ("s3cretToken@127.0.0.1:4222", "********@127.0.0.1:4222"),
        ("nats://aiops:p@ss@127.0.0.1:4222", "nats://aiops:********@127.0.0.1:4222"),  # to the last @
        ("nats://a:b@[::1]:4222,tls://tok@h:4222", "nats://a:********@[::1]:4222,tls://********@h:4222"),
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ],
)
def test_nats_url_is_logged_without_its_password_in_every_form_nats_py_takes(
    nats_url: str, shown: str
) -> None:
    assert masked(load(ExampleSettings, {"NATS_URL": nats_url}))["NATS_URL"] == shown


def test_a_start_up_line_shows_the_settings_given_secrets_masked() -> None:
    settings = load(ExampleSettings, {"API_KEY": "sk-very-secret", "WINDOW_MINUTES": "30"})
    assert masked_changes(settings) == {"API_KEY": "********", "WINDOW_MINUTES": 30}
    assert masked_changes(load(ExampleSettings, {"RETRY_BACKOFF_SECONDS": "1,2"})) == {
        "RETRY_BACKOFF_SECONDS": [1, 2]
    }
