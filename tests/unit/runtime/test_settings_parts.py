"""Settings a plug-in declares in its own module, composed with its service's and read as one."""

from __future__ import annotations

from typing import Annotated, cast

import msgspec
import pytest

from services.runtime import ConfigError, SettingsPart, StageSettings, doc, load, masked, with_parts
from services.runtime._config import MASK


class ServiceSettings(StageSettings, kw_only=True, frozen=True):
    window_minutes: Annotated[int, doc("Minutes around the alert")] = 15


class PagerSettings(SettingsPart, kw_only=True, frozen=True):
    pager_url: Annotated[str, doc("Pager API base URL")] = ""
    pager_key: Annotated[str, doc("Pager API key", aliases=["OLD_PAGER_KEY"], secret=True)] = ""
    pager_tags: Annotated[list[str], doc("Tags on every page")] = msgspec.field(
        default_factory=lambda: ["aiops"]
    )


class ChatSettings(SettingsPart, kw_only=True, frozen=True):
    chat_retries: Annotated[int, doc("Retries of one chat post")] = 2


Composed = with_parts("Composed", ServiceSettings, [PagerSettings, ChatSettings])


def test_every_part_is_read_from_the_environment_with_the_services_own() -> None:
    settings = load(
        Composed,
        {"WINDOW_MINUTES": "30", "PAGER_URL": "http://pager", "OLD_PAGER_KEY": "k-9", "CHAT_RETRIES": "5"},
    )
    assert isinstance(settings, ServiceSettings)
    assert settings.window_minutes == 30
    assert PagerSettings.of(settings) == PagerSettings(pager_url="http://pager", pager_key="k-9")
    assert ChatSettings.of(settings).chat_retries == 5
    assert settings.max_in_flight == 64  # the runtime's, through the service's base


def test_a_parts_bad_value_names_its_variable_and_never_a_secrets_value() -> None:
    with pytest.raises(ConfigError, match=r"^CHAT_RETRIES must be a int \(got 'x'\)$"):
        load(Composed, {"CHAT_RETRIES": "x"})
    assert masked(load(Composed, {"PAGER_KEY": "k-9"}))["PAGER_KEY"] == MASK


def test_defaults_are_the_parts_own_and_not_shared_between_instances() -> None:
    first, second = Composed(), Composed()
    assert PagerSettings.of(first).pager_tags == ["aiops"]
    assert first.pager_tags is not second.pager_tags  # type: ignore[attr-defined]


def test_a_part_read_from_settings_composed_without_it_is_a_type_error_naming_it() -> None:
    with pytest.raises(
        TypeError, match=r"^ServiceSettings was not composed with ChatSettings \(it lacks CHAT_RETRIES\)$"
    ):
        ChatSettings.of(ServiceSettings())


@pytest.mark.parametrize(
    ("clash", "variable"),
    [("window_minutes", "WINDOW_MINUTES"), ("pager_url", "PAGER_URL"), ("old_pager_key", "OLD_PAGER_KEY")],
)
def test_a_variable_declared_twice_is_refused_naming_both_declarations(clash: str, variable: str) -> None:
    fields = [(clash, Annotated[str, doc("the same name again")], "")]
    clashing = cast(type[SettingsPart], msgspec.defstruct("Clashing", fields, bases=(SettingsPart,)))
    owner = "ServiceSettings" if clash == "window_minutes" else "PagerSettings"
    with pytest.raises(TypeError, match=rf"^{variable} is declared by both {owner} and Clashing$"):
        with_parts("Composed", ServiceSettings, [PagerSettings, clashing])


def test_a_part_shared_by_two_plug_ins_is_read_once() -> None:
    twice = with_parts("Twice", ServiceSettings, [PagerSettings, ChatSettings, PagerSettings])
    assert [field.name for field in msgspec.structs.fields(twice)][-4:] == [
        "pager_url",
        "pager_key",
        "pager_tags",
        "chat_retries",
    ]
