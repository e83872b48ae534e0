"""Every enrichment source, in the order their evidence is listed. Adding one is a line here."""

from __future__ import annotations

from collections.abc import Sequence

from services.enricher._elasticsearch import ElasticsearchSource
from services.enricher._kubernetes_events import KubernetesEvents
from services.enricher._loki_source import LokiSource
from services.enricher._prometheus import PrometheusSource
from services.enricher._shared_settings import SharedSettings
from services.enricher._source import Shared, Source
from services.runtime import with_parts

SOURCES: tuple[type[Source], ...] = (
    PrometheusSource,
    LokiSource,
    ElasticsearchSource,
    KubernetesEvents,
)


def settings_type_of(registry: Sequence[type[Source]]) -> type[SharedSettings]:
    """The enricher's settings with these sources: the shared ones, then each source's own."""
    return with_parts("EnricherSettings", SharedSettings, (source.settings_type for source in registry))


def configured_sources(
    settings: SharedSettings, shared: Shared, registry: Sequence[type[Source]] = SOURCES
) -> tuple[list[Source], list[type[Source]]]:
    """The sources the settings ask for, built (ConfigError names a setting that cannot work), and
    the expected ones they leave out; ``settings`` hold the registry's (``settings_type_of``)."""
    built: list[Source] = []
    missing: list[type[Source]] = []
    for source in registry:
        own = source.settings_type.of(settings)
        if source.configured(own):
            built.append(source.from_settings(own, shared))
        elif source.expected:
            missing.append(source)
    return built, missing
