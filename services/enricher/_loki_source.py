"""Loki as a source: the alert's workload lines and its Kubernetes events, read by ``LogReader``."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Self

import msgspec

from schemas import Alert
from services.enricher._logs import LogReader, Span, log_limits_from
from services.enricher._loki import Loki, parse_label_map
from services.enricher._source import Found, Job, Shared, Source, SourceSettings, Window
from services.runtime import ConfigError, doc

_DEFAULT_LABEL_MAP = [
    "instance=host",
    "pod=pod",
    "namespace=namespace",
    "container=container",
    "service=service_name",
]
# Where the usual shippers put Kubernetes events: Grafana Alloy's loki.source.kubernetes_events,
# the Grafana Agent eventhandler, and kubernetes-event-exporter configured with job=kubernetes-events.
_DEFAULT_EVENTS_SELECTOR = (
    '{job=~"loki.source.kubernetes_events|integrations/kubernetes/eventhandler|kubernetes-events"}'
)


class LokiSettings(SourceSettings, kw_only=True, frozen=True):
    loki_url: Annotated[str, doc("Loki API base URL")] = ""
    loki_username: Annotated[str, doc("Basic auth user for Loki")] = ""
    loki_password: Annotated[str, doc("Basic auth password for Loki", secret=True)] = ""
    loki_bearer_token: Annotated[str, doc("Bearer token for Loki", secret=True)] = ""
    loki_tenant: Annotated[str, doc("Loki tenant, sent as X-Scope-OrgID (multi-tenant Loki)")] = ""
    loki_verify_tls: Annotated[bool, doc("Verify Loki's TLS certificate")] = True
    loki_label_map: Annotated[
        list[str], doc("Alert label = Loki stream label pairs, tried first when selecting log streams")
    ] = msgspec.field(default_factory=lambda: list(_DEFAULT_LABEL_MAP))
    loki_events_selector: Annotated[
        str, doc("LogQL stream selector of the Kubernetes events shipped to Loki; off: not read")
    ] = _DEFAULT_EVENTS_SELECTOR


def events_selector(setting: str) -> str:
    """LOKI_EVENTS_SELECTOR as LogQL, or "" when switched off; a stray value stops the start."""
    selector = setting.strip()
    if selector.lower() in ("off", "none", "false"):
        return ""
    if not (selector.startswith("{") and selector.endswith("}")):
        raise ConfigError(
            f'LOKI_EVENTS_SELECTOR must be a LogQL stream selector such as {{job="kubernetes-events"}} '
            f"or off (got {selector[:80]!r})"
        )
    return selector


class LokiSource(Source):
    name = "loki"
    setting = "LOKI_URL"
    settings_type = LokiSettings
    expected = True

    def __init__(self, reader: LogReader) -> None:
        self._reader = reader

    @classmethod
    def configured(cls, settings: LokiSettings) -> bool:
        return bool(settings.loki_url)

    @classmethod
    def from_settings(cls, settings: LokiSettings, shared: Shared) -> Self:
        try:
            label_map = parse_label_map(settings.loki_label_map)
        except ValueError as exc:
            raise ConfigError(f"LOKI_LABEL_MAP: {exc}") from exc
        events = events_selector(settings.loki_events_selector)
        backend = shared.backend(
            cls.name,
            settings.loki_url,
            username=settings.loki_username,
            password=settings.loki_password,
            bearer_token=settings.loki_bearer_token,
            headers={"X-Scope-OrgID": settings.loki_tenant} if settings.loki_tenant else {},
            verify_tls=settings.loki_verify_tls,
        )
        return cls(LogReader(Loki(backend), label_map, events, log_limits_from(shared.settings)))

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        # One job: the workload and events queries share the stream lookup's answer and its deadline.
        return [Job("logs", partial(self._collect, alert, Span(window.start, window.end)))]

    async def _collect(self, alert: Alert, span: Span, deadline: float) -> Found:
        reads, errors = await self._reader.collect(alert.labels, span, deadline)
        return Found(logs=reads, errors=errors)
