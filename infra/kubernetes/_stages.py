"""What the manifests need to know about each stage, read from the code rather than restated.

Ports, the settings a stage reads (and which of them are secrets), and the durable consumer a stage
pulls from all come from the services' own settings and ``services.runtime.CONSUMERS``, so a renamed
setting or consumer changes the manifests instead of silently diverging from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import msgspec

from services.analyst._settings import AnalystSettings
from services.console._settings import ConsoleSettings
from services.enricher._settings import EnricherSettings
from services.history._settings import HistorySettings
from services.ingest._settings import IngestSettings
from services.notifier._settings import NotifierSettings
from services.runtime import CONSUMERS, describe

STAGE_NAMES = ("ingest", "enricher", "analyst", "notifier", "history", "console")


@dataclass(frozen=True)
class Stage:
    name: str
    port: int
    port_env: str
    # The durable JetStream consumer it pulls from; None for the HTTP services (ingest, console), which
    # people and Alertmanager reach through a Service instead.
    consumer: str | None
    secret_env: tuple[str, ...]
    plain_env: frozenset[str]
    shutdown_grace_seconds: float
    default_max_in_flight: int | None

    @property
    def module(self) -> str:
        return f"services.{self.name}"


def _stage(name: str, settings: type[msgspec.Struct], port_field: str) -> Stage:
    infos = describe(settings)
    defaults = {info.field: info.default for info in infos}
    return Stage(
        name=name,
        port=int(defaults[port_field]),
        port_env=port_field.upper(),
        consumer=name if name in CONSUMERS else None,
        secret_env=tuple(info.env[0] for info in infos if info.secret),
        plain_env=frozenset(env for info in infos if not info.secret for env in info.env),
        shutdown_grace_seconds=float(defaults.get("shutdown_grace_seconds") or 0.0),
        default_max_in_flight=defaults.get("max_in_flight"),
    )


@cache
def stages() -> dict[str, Stage]:
    return {
        "ingest": _stage("ingest", IngestSettings, "ingest_port"),
        "enricher": _stage("enricher", EnricherSettings, "health_port"),
        "analyst": _stage("analyst", AnalystSettings, "health_port"),
        "notifier": _stage("notifier", NotifierSettings, "health_port"),
        "history": _stage("history", HistorySettings, "health_port"),
        "console": _stage("console", ConsoleSettings, "console_port"),
    }
