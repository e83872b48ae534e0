"""A new source is one module: its settings, declared beside its code, reach every place settings go.

The throwaway source below is what a contributor writes in ``services/enricher/_<name>.py``; the
only other edit is its line in the registry, which here is ``REGISTRY``. Nothing in the enricher's
shared settings, the config helper, the README generator or the manifests is edited for it.
"""

from __future__ import annotations

import re
from typing import Annotated, Self

import aiohttp
import msgspec
import pytest

from schemas import Alert
from services.cli._config_doc import config_table
from services.enricher import EnricherSettings
from services.enricher._cache import TtlCache
from services.enricher._shared_settings import SharedSettings
from services.enricher._source import Job, Shared, Source, SourceSettings, Window
from services.enricher._sources import SOURCES, configured_sources, settings_type_of
from services.runtime import ConfigError, describe, doc, help_text, load, masked
from services.runtime._config import MASK

# --- what the new module holds ----------------------------------------------------------------------


class GraylogSettings(SourceSettings, kw_only=True, frozen=True):
    graylog_url: Annotated[str, doc("Graylog API base URL, read as a log source")] = ""
    graylog_token: Annotated[str, doc("Graylog access token", secret=True)] = ""
    graylog_streams: Annotated[list[str], doc("Stream ids searched, comma-separated")] = msgspec.field(
        default_factory=lambda: ["all"]
    )
    graylog_page_size: Annotated[int, doc("Messages one search returns")] = 100


class GraylogSource(Source):
    name = "graylog"
    setting = "GRAYLOG_URL"
    settings_type = GraylogSettings

    def __init__(self, settings: GraylogSettings, max_lines: int) -> None:
        self.settings = settings
        self.max_lines = max_lines

    @classmethod
    def configured(cls, settings: GraylogSettings) -> bool:
        return bool(settings.graylog_url)

    @classmethod
    def from_settings(cls, settings: GraylogSettings, shared: Shared) -> Self:
        if not settings.graylog_url.startswith(("http://", "https://")):
            raise ConfigError("GRAYLOG_URL must be an http:// or https:// URL")
        return cls(settings, shared.settings.max_log_lines)

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        return []


# --- its registration line ----------------------------------------------------------------------------

REGISTRY: tuple[type[Source], ...] = (*SOURCES, GraylogSource)
Settings = settings_type_of(REGISTRY)

ENV = {
    "GRAYLOG_URL": "http://graylog:9000",
    "GRAYLOG_TOKEN": "gl-token-4f1c",
    "GRAYLOG_STREAMS": "a1, b2",
    "MAX_LOG_LINES": "77",
}


async def test_its_settings_are_read_from_the_environment_and_handed_to_it_typed() -> None:
    settings = load(Settings, ENV)
    async with aiohttp.ClientSession() as session:
        built, missing = configured_sources(settings, Shared(session, TtlCache(0), settings), REGISTRY)
    [graylog] = [source for source in built if isinstance(source, GraylogSource)]
    assert graylog.settings == GraylogSettings(
        graylog_url="http://graylog:9000", graylog_token="gl-token-4f1c", graylog_streams=["a1", "b2"]
    )
    assert graylog.max_lines == 77  # the shared settings, beside its own
    # The other sources are as the environment leaves them: Prometheus and Loki missing, as before.
    assert [source.name for source in missing] == ["prometheus", "loki"]


async def test_a_bad_value_of_its_settings_stops_the_start_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^GRAYLOG_PAGE_SIZE must be a int \(got 'lots'\)$"):
        load(Settings, {**ENV, "GRAYLOG_PAGE_SIZE": "lots"})
    settings = load(Settings, {**ENV, "GRAYLOG_URL": "graylog:9000"})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match=r"^GRAYLOG_URL must be an http:// or https:// URL$"):
            configured_sources(settings, Shared(session, TtlCache(0), settings), REGISTRY)


def test_its_settings_are_documented_and_masked_where_every_setting_is() -> None:
    settings = load(Settings, ENV)
    shown = masked(settings)
    assert shown["GRAYLOG_TOKEN"] == MASK
    assert shown["GRAYLOG_URL"] == "http://graylog:9000"
    assert "gl-token-4f1c" not in repr(shown)
    usage = help_text(Settings, "enricher", "")
    assert "GRAYLOG_PAGE_SIZE\n      Messages one search returns [default: 100]" in usage
    table = config_table([("enricher", Settings)])
    assert "| `GRAYLOG_TOKEN` |  | Graylog access token (secret: masked in logs) |" in table
    assert "| `GRAYLOG_PAGE_SIZE` | `100` | Messages one search returns |" in table


def test_the_kubernetes_manifests_keep_its_secret_in_the_secret() -> None:
    from infra.kubernetes._stages import _stage

    stage = _stage("enricher", Settings, "health_port")
    assert "GRAYLOG_TOKEN" in stage.secret_env
    assert "GRAYLOG_URL" in stage.plain_env


def test_a_source_reading_a_variable_another_declares_is_refused_naming_both() -> None:
    class LokiAgainSettings(SourceSettings, kw_only=True, frozen=True):
        loki_url: Annotated[str, doc("Another reading of LOKI_URL")] = ""

    class LokiAgain(Source):
        name = "loki_again"
        setting = "LOKI_URL"
        settings_type = LokiAgainSettings

    with pytest.raises(TypeError, match=r"^LOKI_URL is declared by both LokiSettings and LokiAgainSettings$"):
        settings_type_of((*SOURCES, LokiAgain))  # type: ignore[type-abstract]


def test_each_registered_sources_settings_live_in_its_module_and_are_named_after_it() -> None:
    shared = {name for info in describe(SharedSettings) for name in info.env}
    for source in SOURCES:
        prefix = source.setting.split("_")[0] + "_"
        own = [name for info in describe(source.settings_type) for name in info.env]
        assert source.settings_type.__module__ == source.__module__, source.name
        assert source.setting in own, f"{source.name}: {source.setting} is not among its settings"
        assert all(name.startswith(prefix) for name in own), own
        assert not [name for name in shared if name.startswith(prefix)], f"{prefix}* in SharedSettings"


def test_the_enrichers_settings_are_the_shared_ones_and_every_registered_sources() -> None:
    names = [info.env[0] for info in describe(EnricherSettings)]
    expected = [info.env[0] for info in describe(SharedSettings)]
    for source in SOURCES:
        expected += [info.env[0] for info in describe(source.settings_type)]
    assert names == expected
    assert not any(re.match("GRAYLOG_", name) for name in names), "the test's source leaked into the real one"
