"""Elasticsearch and OpenSearch as a log source: ``_search`` over an index pattern.

The alert's identities, most specific first (its pod, container, workload, service, then host or
node), each become ``term`` filters on the fields ELASTICSEARCH_LABEL_MAP maps their labels to,
qualified by the namespace; the first that has lines in the window wins, as Loki's streams do.
Its window is read oldest first, whole when it fits MAX_LOG_LINES; a busier one adds its first and
last problem lines and the lines just before the first problem. The enricher clusters the lines
into templates with every other log source's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Self
from urllib.parse import quote

import msgspec
import orjson

from schemas import Alert, LogSource, SourceErrorKind
from services.enricher._backend import Backend
from services.enricher._errors import SourceError
from services.enricher._logs import Span, union
from services.enricher._loki import parse_label_map
from services.enricher._source import Entry, Found, Job, LogRead, Shared, Source, SourceSettings, Window
from services.enricher._streams import host_of
from services.runtime import ConfigError, doc

# Alert labels naming one identity, most specific first; the host tiers are not namespaced.
_TIERS = [
    "pod",
    "container",
    "deployment",
    "statefulset",
    "daemonset",
    "job_name",
    "service",
    "app",
    "instance",
    "node",
    "hostname",
    "host",
]
_HOSTS = frozenset({"instance", "node", "hostname", "host"})
# Each candidate costs a request; past these, the alert's identities are too vague to be worth more.
_MAX_CANDIDATES = 4
# Words of a line worth reading during an incident, as the standard analyzer splits them.
_PROBLEM_WORDS = [
    "error",
    "errors",
    "exception",
    "fatal",
    "panic",
    "fail",
    "failed",
    "failure",
    "timeout",
    "timed out",
    "refused",
    "unreachable",
    "killed",
    "oomkilled",
    "denied",
    "backoff",
    "unhealthy",
    "evicted",
    "warn",
    "warning",
]


def candidates(labels: Mapping[str, str], fields: Mapping[str, str]) -> list[tuple[tuple[str, str], ...]]:
    """``term`` pairs (field, value) per identity the alert names and the map knows, most specific first."""
    namespace_field = fields.get("namespace")
    namespace = labels.get("namespace")
    found = []
    for label in _TIERS:
        value, field = labels.get(label), fields.get(label)
        if not value or not field:
            continue
        if label == "instance":
            value = host_of(value)
        terms: tuple[tuple[str, str], ...] = ((field, value),)
        if label not in _HOSTS and namespace and namespace_field:
            terms = ((namespace_field, namespace), *terms)
        found.append(terms)
    return list(dict.fromkeys(found))


def described(terms: tuple[tuple[str, str], ...]) -> str:
    """The candidate as a person reads it: ``kubernetes.namespace:"shop" AND kubernetes.pod.name:"api-0"``."""
    return " AND ".join(f"{field}:{orjson.dumps(value).decode()}" for field, value in terms)


def field_of(document: Mapping[str, Any], path: str) -> Any:
    """A field by its dotted name, stored flat (``"log.level": ...``) or nested (``log: {level: ...}``)."""
    if path in document:
        return document[path]
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# The Elastic Common Schema fields Filebeat, Elastic Agent and Fluent Bit's ECS output write.
_DEFAULT_FIELD_MAP = [
    "pod=kubernetes.pod.name",
    "namespace=kubernetes.namespace",
    "container=kubernetes.container.name",
    "deployment=kubernetes.deployment.name",
    "statefulset=kubernetes.statefulset.name",
    "daemonset=kubernetes.daemonset.name",
    "job_name=kubernetes.job.name",
    "service=service.name",
    "instance=host.name",
    "node=kubernetes.node.name",
]


class ElasticsearchSettings(SourceSettings, kw_only=True, frozen=True):
    elasticsearch_url: Annotated[
        str, doc("Elasticsearch or OpenSearch base URL, read as a log source beside or instead of Loki")
    ] = ""
    elasticsearch_index: Annotated[
        str, doc("Index pattern searched for log lines (comma-separated, wildcards allowed)")
    ] = "logs-*"
    elasticsearch_username: Annotated[str, doc("Basic auth user for Elasticsearch/OpenSearch")] = ""
    elasticsearch_password: Annotated[
        str, doc("Basic auth password for Elasticsearch/OpenSearch", secret=True)
    ] = ""
    elasticsearch_api_key: Annotated[
        str, doc("Elasticsearch API key (the base64 id:key), sent as Authorization: ApiKey", secret=True)
    ] = ""
    elasticsearch_verify_tls: Annotated[bool, doc("Verify Elasticsearch's TLS certificate")] = True
    elasticsearch_label_map: Annotated[
        list[str], doc("Alert label = document field pairs (keyword fields) that select the alert's lines")
    ] = msgspec.field(default_factory=lambda: list(_DEFAULT_FIELD_MAP))
    elasticsearch_time_field: Annotated[str, doc("Document field holding the line's time")] = "@timestamp"
    elasticsearch_message_field: Annotated[str, doc("Document field holding the log line")] = "message"
    elasticsearch_level_field: Annotated[
        str, doc("Document field holding the line's level, shown before it when the line lacks one")
    ] = "log.level"


class ElasticsearchSource(Source):
    name = "elasticsearch"
    setting = "ELASTICSEARCH_URL"
    settings_type = ElasticsearchSettings

    def __init__(
        self, backend: Backend, settings: ElasticsearchSettings, fields: Mapping[str, str], max_lines: int
    ) -> None:
        self._backend = backend
        self._path = "/" + quote(settings.elasticsearch_index, safe=",*") + "/_search"
        self._fields = fields
        self._time = settings.elasticsearch_time_field
        self._message = settings.elasticsearch_message_field
        self._level = settings.elasticsearch_level_field
        self._max_lines = max_lines

    @classmethod
    def configured(cls, settings: ElasticsearchSettings) -> bool:
        return bool(settings.elasticsearch_url)

    @classmethod
    def from_settings(cls, settings: ElasticsearchSettings, shared: Shared) -> Self:
        if not re.match(r"https?://[^/\s]+", settings.elasticsearch_url):
            raise ConfigError("ELASTICSEARCH_URL must be an http:// or https:// URL")
        index = settings.elasticsearch_index.strip()
        if not index or re.search(r"[\s/\\\"<>|?#]", index):
            raise ConfigError("ELASTICSEARCH_INDEX must be an index name or pattern such as logs-*")
        if bool(settings.elasticsearch_username) != bool(settings.elasticsearch_password):
            raise ConfigError(
                "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD are set together or not at all"
            )
        if settings.elasticsearch_api_key and settings.elasticsearch_username:
            raise ConfigError("ELASTICSEARCH_API_KEY and ELASTICSEARCH_USERNAME: set one of them, not both")
        for setting in ("elasticsearch_time_field", "elasticsearch_message_field"):
            if not getattr(settings, setting).strip():
                raise ConfigError(f"{setting.upper()} must name a document field")
        try:
            fields = parse_label_map(settings.elasticsearch_label_map, target="document.field")
        except ValueError as exc:
            raise ConfigError(f"ELASTICSEARCH_LABEL_MAP: {exc}") from exc
        key = settings.elasticsearch_api_key
        backend = shared.backend(
            cls.name,
            settings.elasticsearch_url,
            username=settings.elasticsearch_username,
            password=settings.elasticsearch_password,
            headers={"Authorization": f"ApiKey {key}"} if key else {},
            verify_tls=settings.elasticsearch_verify_tls,
        )
        return cls(backend, settings, fields, shared.settings.max_log_lines)

    def plan(self, alert: Alert, window: Window) -> list[Job]:
        return [Job("logs", partial(self._collect, alert.labels, Span(window.start, window.end)))]

    async def _collect(self, labels: Mapping[str, str], span: Span, deadline: float) -> Found:
        found = candidates(labels, self._fields)[:_MAX_CANDIDATES]
        if not found:
            reason = "the alert has no label ELASTICSEARCH_LABEL_MAP maps to a document field"
            return Found(errors=[SourceError(self.name, reason, kind=SourceErrorKind.NO_MATCH)])
        try:
            for index, terms in enumerate(found):
                entries = await self._window(terms, span, deadline)
                if entries:
                    tried = [described(t) for t in found[:index]]
                    source = LogSource(
                        name="workload",
                        selector=described(terms),
                        lines=len(entries),
                        tried=tried,
                        backend=self.name,
                    )
                    return Found(logs=[LogRead(source, described(terms), entries)])
        except SourceError as exc:
            return Found(errors=[exc])
        shown = "; ".join(described(terms) for terms in found)
        reason = f"no document in the window matches {shown}"
        return Found(errors=[SourceError(self.name, reason, described(found[0]), SourceErrorKind.NO_MATCH)])

    async def _window(self, terms: tuple[tuple[str, str], ...], span: Span, deadline: float) -> list[Entry]:
        """The window oldest first; when it holds more than the limit, also the problems and their context."""
        limit = self._max_lines
        filters = [{"term": {field: value}} for field, value in terms]
        oldest = await self._search(filters, span.start, span.end, limit, deadline, ascending=True)
        if len(oldest) < limit:
            return oldest
        problems = [
            *filters,
            {"bool": {"should": [{"match_phrase": {self._message: w}} for w in _PROBLEM_WORDS]}},
        ]
        share = max(1, limit * 3 // 8)
        first = await self._search(problems, span.start, span.end, share, deadline, ascending=True)
        last = await self._search(problems, span.start, span.end, share, deadline, ascending=False)
        context: list[Entry] = []
        if first:
            until = min(first[0][0] + 0.001, span.end)
            context = await self._search(
                filters, span.start, until, max(1, limit // 4), deadline, ascending=False
            )
        return union(oldest, first, last, context)

    async def _search(
        self, filters: list[Any], start: float, end: float, size: int, deadline: float, *, ascending: bool
    ) -> list[Entry]:
        window = {
            "range": {
                self._time: {"gte": int(start * 1000), "lte": int(end * 1000), "format": "epoch_millis"}
            }
        }
        body = {
            "size": size,
            "sort": [{self._time: {"order": "asc" if ascending else "desc"}}],
            "_source": [self._time, self._message, self._level],
            "query": {"bool": {"filter": [window, *filters]}},
        }
        query = orjson.dumps(body["query"]).decode()
        answer = await self._backend.post_json(self._path, body, query, deadline)
        hits = answer.get("hits") if isinstance(answer, dict) else None
        if not isinstance(hits, dict) or not isinstance(hits.get("hits"), list):
            raise SourceError(self.name, "answered _search without hits", query, SourceErrorKind.BAD_ANSWER)
        entries = [entry for hit in hits["hits"] if (entry := self._entry(hit))]
        entries.sort(key=lambda entry: entry[0])
        return entries

    def _entry(self, hit: Any) -> Entry | None:
        document = hit.get("_source") if isinstance(hit, dict) else None
        if not isinstance(document, dict):
            return None
        message = field_of(document, self._message)
        seconds = _seconds(hit.get("sort"), field_of(document, self._time))
        if message is None or seconds is None:
            return None
        line = str(message)
        level = field_of(document, self._level)
        if isinstance(level, str) and level and not re.search(rf"\b{re.escape(level)}\b", line[:80], re.I):
            line = f"{level.upper()} {line}"
        return seconds, line


def _seconds(sort: Any, stored: Any) -> float | None:
    """The hit's time: the sort value (epoch milliseconds for a date field), else the stored field."""
    if isinstance(sort, list) and sort and isinstance(sort[0], int | float):
        return _epoch(float(sort[0]))
    if isinstance(stored, int | float):
        return _epoch(float(stored))
    if isinstance(stored, str):
        try:
            parsed = datetime.fromisoformat(stored)
        except ValueError:
            return None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return None


def _epoch(number: float) -> float:
    """Seconds from an epoch number: milliseconds for ``date``, nanoseconds for a ``date_nanos`` field."""
    for scale in (1e9, 1e6, 1e3):
        if number >= scale * 1e8:  # past 1973 in that unit
            return number / scale
    return number
