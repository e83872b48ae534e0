"""The interface of an enrichment source: one backend that turns an alert into evidence.

A source is a class with a ``name`` (what ``evidence.errors[].source`` and the metrics say), a way
to tell whether its settings are set, a constructor from the settings that refuses a setting that
cannot work, and a ``plan``: the jobs that collect its evidence for one alert. The enricher runs
every job of every configured source at once within the alert's deadline; a job cut by the
deadline becomes a ``timeout`` error naming its ``query``, the others keep what they found.

Writing one (``_elasticsearch.py`` was written this way) is one new module ``services/enricher/_<name>.py``
and its line in the registry, ``_sources.py``:

1. its settings, in the module: ``class ElasticsearchSettings(SourceSettings, kw_only=True, frozen=True)``
   with fields as every settings Struct has them (``elasticsearch_url`` is read from ``ELASTICSEARCH_URL``,
   ``doc(...)`` describes it, ``secret=True`` masks credentials). ``EnricherSettings`` is composed from
   ``SharedSettings`` and every registered source's settings (``_settings.py``), so the environment,
   ``--help``, the start-up log, the README table and the manifests' secret keys have them without
   another edit; two sources declaring one variable stop the import;
2. ``class ElasticsearchSource(Source)`` with ``name = "elasticsearch"``,
   ``setting = "ELASTICSEARCH_URL"``, ``settings_type = ElasticsearchSettings``, ``configured(settings)``
   (is that setting set?), ``from_settings(settings, shared)`` raising ``ConfigError`` naming the bad
   setting (never its value when secret) — both get the source's own settings; the shared ones are
   ``shared.settings`` — and ``plan(alert, window)`` returning ``Job``s whose ``run(deadline)``
   returns a ``Found``:
   - ``Found(metrics=[MetricEvidence, ...])`` for series, summarised with ``_summary.summarise``;
   - ``Found(logs=[LogRead(LogSource(name="workload", selector=..., backend=name), query, entries)])``
     for log lines: the enricher clusters the lines of every log source into templates together
     (``_templates``), ranks them (``_logs.rank``) and keeps them within one budget;
   - ``Found(errors=[SourceError(name, reason, query, kind)])`` for what went wrong, with a
     ``SourceErrorKind`` (``rejected`` for 401/403/404, ``rate_limited``, ...); ``shared.backend``
     gives an HTTP client with auth, timeouts, retries (429 Retry-After honoured) and a cache that
     raises these already. A job should not raise: one that does is logged (type and place only)
     and told as an ``unavailable`` error of its source.
3. one line in ``_sources.py``'s ``SOURCES``, the one place sources are registered (its order is the
   evidence's), and a section in docs/enrichment.md whose heading names it.

Registration stays a line rather than a discovery of modules so that one list says which sources
exist and in which order, as ``_kinds.py`` does for the notifier's destinations.
"""

from __future__ import annotations

import asyncio
import ssl
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import aiohttp
import msgspec

from schemas import Alert, LogSource, MetricEvidence
from services.enricher._backend import Backend, BackendConfig
from services.enricher._cache import TtlCache
from services.enricher._errors import SourceError
from services.enricher._shared_settings import SharedSettings
from services.runtime import SettingsPart


class SourceSettings(SettingsPart, kw_only=True, frozen=True):
    """The settings a source declares in its own module; the enricher reads them with its own."""


# A log line: (unix seconds, text).
Entry = tuple[float, str]


class Window(msgspec.Struct, frozen=True):
    """The alert's evidence window in unix seconds, aligned to ``step``.

    A Struct rather than a frozen dataclass: one is made per alert, and the dataclass's
    ``__init__`` cost a few µs of it."""

    start: float
    end: float
    starts_at: float
    step: float


@dataclass(frozen=True)
class LogRead:
    """The lines one log stream gave, before clustering: ``source`` describes it in the evidence."""

    source: LogSource
    query: str
    entries: list[Entry]


@dataclass(frozen=True)
class Found:
    """What one job contributes; any part may be empty."""

    metrics: Sequence[MetricEvidence] = ()
    logs: Sequence[LogRead] = ()
    errors: Sequence[SourceError] = ()


@dataclass(frozen=True)
class Job:
    """One task of a source's plan. ``run`` gets the loop time after which no request may start."""

    query: str
    run: Callable[[float], Awaitable[Found]]
    # Counted in the "n of m queries with series" line: a metric query, not a log read.
    metric: bool = False


@dataclass
class Shared:
    """What the enricher gives every source: one HTTP session, one cache, the common HTTP settings."""

    session: aiohttp.ClientSession
    cache: TtlCache
    # The enricher's settings: the shared ones typed, every source's in them too.
    settings: SharedSettings
    _limiters: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def backend(
        self,
        source: str,
        url: str,
        *,
        username: str = "",
        password: str = "",
        bearer_token: str = "",
        headers: Mapping[str, str] | None = None,
        verify_tls: bool | ssl.SSLContext = True,
    ) -> Backend:
        """An HTTP client for ``source`` with QUERY_TIMEOUT_SECONDS, QUERY_ATTEMPTS and QUERY_CONCURRENCY."""
        config = BackendConfig(
            source=source,
            url=url,
            username=username,
            password=password,
            bearer_token=bearer_token,
            headers=dict(headers or {}),
            verify_tls=verify_tls,
            timeout_seconds=self.settings.query_timeout_seconds,
            attempts=self.settings.query_attempts,
        )
        limiter = self._limiters.setdefault(source, asyncio.Semaphore(self.settings.query_concurrency))
        return Backend(config, self.session, limiter, self.cache)


class Source(ABC):
    """One enrichment backend. Subclasses set the class variables and implement the three methods."""

    name: ClassVar[str]
    # Its settings, composed into EnricherSettings; an instance is what ``configured`` and
    # ``from_settings`` get, which declare it as their type (``Any`` here lets them narrow it).
    settings_type: ClassVar[type[SourceSettings]] = SourceSettings
    # The setting whose absence means "not configured", named in that error and in the docs.
    setting: ClassVar[str]
    # True when a deployment without it lacks a whole kind of evidence (metrics, logs): its absence
    # is then reported in evidence.errors as not_configured. Optional extras stay silent.
    expected: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def configured(cls, settings: Any) -> bool:
        """Whether the settings ask for this source (its URL is set, or it runs in-cluster, ...)."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any, shared: Shared) -> Self:
        """The configured source; raises ConfigError naming the setting that cannot work."""

    @abstractmethod
    def plan(self, alert: Alert, window: Window) -> list[Job]:
        """The jobs that collect this alert's evidence; empty when the source has nothing to ask."""
