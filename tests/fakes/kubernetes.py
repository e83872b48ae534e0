"""The Kubernetes API server's event list, locally, over a list of events.

``GET /api/v1/namespaces/{ns}/events`` and ``GET /api/v1/events`` answer a core/v1 ``EventList``
(``items[]`` with ``involvedObject``, ``reason``, ``message``, ``type``, ``count``,
``firstTimestamp``/``lastTimestamp``, or ``eventTime`` and ``series`` for events recorded
through events.k8s.io/v1, as the scheduler records them). ``fieldSelector`` takes ``=``, ``==``
and ``!=`` terms on the fields the API server indexes for events; any other field is refused
with 400 as the server refuses it. ``limit`` cuts the list and ``metadata.continue`` carries on.
Requests need ``Authorization: Bearer <token>``: without it 401; a namespace outside the
service account's Role answers 403. Every error is a ``Status`` object as the API server sends
it. Scripted failures: 401, 403, 404, 429 with ``Retry-After``, 500, 503, or no answer (a timeout).
Pass an ``ssl.SSLContext`` to serve HTTPS.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self

from aiohttp import web

from tests.support.nats_server import free_port

Failure = Literal[
    "unauthorized", "forbidden", "not_found", "rate_limited", "server_error", "unavailable", "timeout"
]

# The fields the API server accepts in an event list's fieldSelector (pkg/registry/core/event).
SELECTABLE = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.name",
    "metadata.namespace",
)
_TERM = re.compile(r"([A-Za-z.]+)(!=|==|=)(.*)")


def _time(seconds: float | None, micro: bool = False) -> str | None:
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, UTC)
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class KubeEvent:
    """One event about one object. ``first``/``last`` are the legacy timestamps; ``recorded_new``
    leaves them empty and sets ``eventTime`` (and ``series`` when count > 1), as the
    events.k8s.io/v1 recorder does."""

    namespace: str
    kind: str
    name: str
    reason: str
    message: str
    first: float
    last: float | None = None
    count: int = 1
    type: str = "Warning"
    component: str = "kubelet"
    recorded_new: bool = False

    def item(self, index: int) -> dict[str, Any]:
        involved_namespace = "" if self.kind == "Node" else self.namespace
        body: dict[str, Any] = {
            "metadata": {
                "name": f"{self.name}.{0x17A5F00000000000 + index:x}",
                "namespace": self.namespace,
                "uid": f"00000000-0000-4000-8000-{index:012d}",
                "resourceVersion": str(1000 + index),
                "creationTimestamp": _time(self.first),
            },
            "involvedObject": {
                "kind": self.kind,
                "namespace": involved_namespace,
                "name": self.name,
                "uid": f"11111111-0000-4000-8000-{index:012d}",
                "apiVersion": "v1",
            },
            "reason": self.reason,
            "message": self.message,
            "source": {"component": self.component},
            "type": self.type,
            "reportingComponent": self.component if self.recorded_new else "",
            "reportingInstance": "",
        }
        if self.recorded_new:
            body.update(firstTimestamp=None, lastTimestamp=None, eventTime=_time(self.first, micro=True))
            if self.count > 1:
                last = self.last if self.last is not None else self.first
                body["series"] = {"count": self.count, "lastObservedTime": _time(last, micro=True)}
        else:
            last = self.last if self.last is not None else self.first
            body.update(
                firstTimestamp=_time(self.first), lastTimestamp=_time(last), count=self.count, eventTime=None
            )
        return body

    def field(self, name: str) -> str:
        involved_namespace = "" if self.kind == "Node" else self.namespace
        return {
            "involvedObject.kind": self.kind,
            "involvedObject.namespace": involved_namespace,
            "involvedObject.name": self.name,
            "involvedObject.apiVersion": "v1",
            "reason": self.reason,
            "reportingComponent": self.component if self.recorded_new else "",
            "source": self.component,
            "type": self.type,
            "metadata.namespace": self.namespace,
        }.get(name, "")


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


def status(code: int, reason: str, message: str, **details: Any) -> web.Response:
    """An error as the API server writes it: a ``Status`` object."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


class FieldSelectorError(ValueError):
    pass


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """``a=b,c!=d`` → ``[("a", True, "b"), ("c", False, "d")]``; unknown fields are refused."""
    terms: list[tuple[str, bool, str]] = []
    for term in filter(None, (part.strip() for part in text.split(","))):
        found = _TERM.fullmatch(term)
        if not found:
            raise FieldSelectorError(f"invalid selector: '{term}'; can't understand '{term}'")
        name, operator, value = found.groups()
        if name not in SELECTABLE:
            raise FieldSelectorError(
                f'"{name}" is not a known field selector: only "{", ".join(SELECTABLE)}"'
            )
        terms.append((name, operator != "!=", value))
    return terms


@dataclass
class FakeKubernetes:
    events: list[KubeEvent] = field(default_factory=list)
    token: str = "service-account-token"
    # Namespaces the service account may list events in; None: all of them (a ClusterRole).
    allowed_namespaces: set[str] | None = None
    retry_after: int = 1
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, *failures: Failure) -> None:
        """The next requests fail in this order; later ones are answered normally."""
        self.failures.extend(failures)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{namespace}/events", self._list)
        app.router.add_get("/api/v1/events", self._list)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        port = free_port()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.tls)
        await site.start()
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._never.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _scripted(self, namespace: str) -> web.StreamResponse | None:
        if not self.failures:
            return None
        failure = self.failures.pop(0)
        if failure == "timeout":
            await self._never.wait()
            return status(504, "Timeout", "the server was unable to return a response in the time allotted")
        if failure == "unauthorized":
            return status(401, "Unauthorized", "Unauthorized")
        if failure == "forbidden":
            return self._forbidden(namespace)
        if failure == "not_found":
            return web.Response(status=404, text="404 page not found\n")
        if failure == "rate_limited":
            response = status(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
                retryAfterSeconds=self.retry_after,
            )
            response.headers["Retry-After"] = str(self.retry_after)
            return response
        if failure == "unavailable":
            return status(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        return status(500, "InternalError", "Internal error occurred: etcdserver: request timed out")

    def _forbidden(self, namespace: str) -> web.Response:
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return status(
            403,
            "Forbidden",
            f'events is forbidden: User "system:serviceaccount:aiops:enricher" cannot list resource '
            f'"events" in API group ""{where}',
            kind="events",
        )

    async def _list(self, request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("namespace", "")
        self.requests.append(Request(request.path, dict(request.query), dict(request.headers)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return status(401, "Unauthorized", "Unauthorized")
        scripted = await self._scripted(namespace)
        if scripted is not None:
            return scripted
        if self.allowed_namespaces is not None and namespace not in self.allowed_namespaces:
            return self._forbidden(namespace)
        try:
            terms = parse_field_selector(request.query.get("fieldSelector", ""))
        except FieldSelectorError as exc:
            return status(400, "BadRequest", str(exc))
        chosen = [
            (index, event)
            for index, event in enumerate(self.events)
            if (not namespace or event.namespace == namespace)
            and all((event.field(name) == value) == equal for name, equal, value in terms)
        ]
        offset = 0
        if request.query.get("continue"):
            try:
                offset = json.loads(base64.urlsafe_b64decode(request.query["continue"]))["offset"]
            except (ValueError, KeyError, TypeError):
                return status(400, "BadRequest", "continue key is not valid: illegal base64 data")
        limit = int(request.query.get("limit") or 0)
        page = chosen[offset : offset + limit] if limit else chosen[offset:]
        metadata: dict[str, Any] = {"resourceVersion": str(5000 + len(self.events))}
        if limit and offset + limit < len(chosen):
            token = json.dumps({"offset": offset + limit}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(token).decode()
            metadata["remainingItemCount"] = len(chosen) - offset - limit
        body = {
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": metadata,
            "items": [event.item(index) for index, event in page],
        }
        return web.json_response(body)
