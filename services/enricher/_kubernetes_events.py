"""Kubernetes events as a source, read from the API server, for clusters that do not ship them to Loki.

Configured by KUBERNETES_API_URL, or in a pod (KUBERNETES_SERVICE_HOST, set by Kubernetes) with the
service account's token and CA. The events become log lines like Loki's events stream gives
(``_kubernetes_digest``), clustered and ranked with every other log line of the alert.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Self

from schemas import Alert, LogSource, SourceErrorKind
from services.enricher._errors import SourceError
from services.enricher._kubernetes_digest import Event, Lookup, digest, entries, kept, parse, plan
from services.enricher._source import Found, Job, LogRead, Shared, Source, SourceSettings, Window
from services.runtime import ConfigError, doc

NAME = "kubernetes"
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_PAGE = 500
# A namespace-wide list (a workload's pods) reads at most this many pages: events live an hour.
_PAGES = 4
# A digest seen more often shows this many times: enough to rank it, bounded for the clustering.
_REPEATS = 50
# Bound service-account tokens rotate; client-go re-reads the file as often.
_TOKEN_SECONDS = 60.0


class KubernetesSettings(SourceSettings, kw_only=True, frozen=True):
    kubernetes_api_url: Annotated[
        str,
        doc(
            "Kubernetes API server URL whose events are read as evidence; empty: the in-cluster API "
            "in a pod with a service account token; off: never"
        ),
    ] = ""
    kubernetes_token_file: Annotated[
        str, doc("Bearer token file for the Kubernetes API, re-read as it rotates")
    ] = f"{SERVICE_ACCOUNT}/token"
    kubernetes_ca_file: Annotated[str, doc("CA bundle of the Kubernetes API server's certificate")] = (
        f"{SERVICE_ACCOUNT}/ca.crt"
    )
    kubernetes_service_host: Annotated[
        str, doc("Set by Kubernetes in every pod: the API server's in-cluster address")
    ] = ""
    kubernetes_service_port: Annotated[
        int, doc("Set by Kubernetes in every pod: the API server's in-cluster port")
    ] = 443


class TokenFile:
    """The bearer token, re-read from its file once a minute; "" when there is none (kubectl proxy)."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._token = ""
        self._read_at = clock()
        if path is not None:
            try:
                self._token = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"KUBERNETES_TOKEN_FILE: cannot read {path}: {exc.strerror}") from exc

    def current(self) -> str:
        now = self._clock()
        if self._path is not None and now - self._read_at >= _TOKEN_SECONDS:
            self._read_at = now
            # A file being replaced right now: the last token is still worth a try.
            with contextlib.suppress(OSError):
                self._token = self._path.read_text(encoding="utf-8").strip()
        return self._token


def _in_cluster(settings: KubernetesSettings) -> bool:
    return not settings.kubernetes_api_url.strip() and bool(settings.kubernetes_service_host)


def api_url(settings: KubernetesSettings) -> str:
    url = settings.kubernetes_api_url.strip()
    if _in_cluster(settings):
        host = settings.kubernetes_service_host
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{settings.kubernetes_service_port}"
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"KUBERNETES_API_URL must be an http(s) URL or off (got {url[:80]!r})")
    return url.rstrip("/")


def _file(path: str, setting: str, default: str, required: bool) -> Path | None:
    """The file a setting names; a missing default is no file outside a pod, an error inside one."""
    found = Path(path)
    if found.is_file():
        return found
    if path == default and not required:
        return None
    raise ConfigError(f"{setting}: {path} is not a readable file")


def tls_context(settings: KubernetesSettings, url: str) -> ssl.SSLContext | bool:
    """The API server's CA for https (the system's when there is none outside a pod); plain http: none."""
    if not url.startswith("https://"):
        return True
    default = f"{SERVICE_ACCOUNT}/ca.crt"
    ca = _file(settings.kubernetes_ca_file, "KUBERNETES_CA_FILE", default, _in_cluster(settings))
    if ca is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"KUBERNETES_CA_FILE: {ca} holds no usable certificate ({exc})") from exc


class KubernetesEvents(Source):
    name = NAME
    setting = "KUBERNETES_API_URL"
    settings_type = KubernetesSettings

    def __init__(
        self, url: str, token: TokenFile, tls: ssl.SSLContext | bool, shared: Shared, max_lines: int
    ) -> None:
        self._url = url
        self._token = token
        self._tls = tls
        self._shared = shared
        self._max_lines = max_lines

    @classmethod
    def configured(cls, settings: KubernetesSettings) -> bool:
        """A URL, or a pod whose service account token is mounted: a pod without one (as this
        project's own manifests run it) has no access to give, and runs without the source."""
        url = settings.kubernetes_api_url.strip().lower()
        if url in ("off", "none", "false"):
            return False
        return bool(url) or (
            bool(settings.kubernetes_service_host) and Path(settings.kubernetes_token_file).is_file()
        )

    @classmethod
    def from_settings(cls, settings: KubernetesSettings, shared: Shared) -> Self:
        url = api_url(settings)
        default = f"{SERVICE_ACCOUNT}/token"
        path = _file(settings.kubernetes_token_file, "KUBERNETES_TOKEN_FILE", default, _in_cluster(settings))
        max_lines = max(1, shared.settings.max_log_lines // 2)
        return cls(url, TokenFile(path), tls_context(settings, url), shared, max_lines)

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        return [Job(lookup.describe(), partial(self._read, lookup, window)) for lookup in plan(alert.labels)]

    async def _read(self, lookup: Lookup, window: Window, deadline: float) -> Found:
        query = lookup.describe()
        try:
            events = await self._list(lookup, query, deadline)
        except SourceError as exc:
            return Found(errors=[exc])
        lines = entries(digest(kept(events, lookup, window.start, window.end)), self._max_lines, _REPEATS)
        if not lines:
            return Found()  # no events about these objects in the window: nothing to say
        source = LogSource(name="events", selector=query, backend=self.name, lines=len(lines))
        return Found(logs=[LogRead(source, query, lines)])

    async def _list(self, lookup: Lookup, query: str, deadline: float) -> list[Event]:
        backend = self._shared.backend(
            self.name, self._url, bearer_token=self._token.current(), verify_tls=self._tls
        )
        params = [("limit", str(_PAGE))]
        if lookup.selector:
            params.append(("fieldSelector", lookup.selector))
        events: list[Event] = []
        following = ""
        for _ in range(_PAGES):
            page = params + ([("continue", following)] if following else [])
            body = await backend.get_json(lookup.path, page, query, deadline)
            items, following = _page(body, query)
            events.extend(event for item in items if (event := parse(item)) is not None)
            if not following:
                break
        return events


def _page(body: Any, query: str) -> tuple[list[Any], str]:
    """The items of an EventList and the token of its next page ("" for the last)."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise SourceError(NAME, "answered without an EventList", query, SourceErrorKind.BAD_ANSWER)
    metadata = body.get("metadata")
    following = metadata.get("continue") if isinstance(metadata, dict) else None
    return body["items"], following if isinstance(following, str) else ""
