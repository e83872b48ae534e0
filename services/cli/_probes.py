"""Asking each service how it is: /healthz, /readyz and /metrics, all at once, with short timeouts.

Each service is found where ``aiops up`` starts it: ingest on ``INGEST_PORT``, the stages on
``<NAME>_HEALTH_PORT``, each defaulting to its settings class's port. The defaults are repeated here
rather than imported because importing the services' settings loads every service's dependencies
(two seconds for the analyst) and ``aiops status`` must answer within one; a unit test keeps them equal.
For the same reason the requests are plain HTTP/1.0 over asyncio's streams rather than aiohttp, whose
import alone costs a third of a second, and the Prometheus text parser is imported when first used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

SERVICES = ("ingest", "enricher", "analyst", "notifier", "history", "console")
# The pipeline works without these (a deployment may run neither): shown, but nothing listening is no problem.
OPTIONAL = frozenset({"history", "console"})
DEFAULT_PORTS = {
    "ingest": 8000,
    "enricher": 8001,
    "analyst": 8002,
    "notifier": 8003,
    "history": 8005,
    "console": 8080,
}
PORT_VARIABLES = {
    "ingest": "INGEST_PORT",
    "enricher": "ENRICHER_HEALTH_PORT",
    "analyst": "ANALYST_HEALTH_PORT",
    "notifier": "NOTIFIER_HEALTH_PORT",
    "history": "HISTORY_HEALTH_PORT",
    "console": "CONSOLE_PORT",
}
NOT_LISTENING = "nothing listens there"
# A service busy on a saturated machine answered /metrics in ~0.3 s (bench.status): a shorter wait
# would call it down. One that has not answered in a second is in trouble, and status says so.
PROBE_SECONDS = 1.0
# A /metrics page of a busy service is tens of KB; a body without a length is read up to this.
MAX_BODY = 16 * 1024 * 1024

# One metric sample: its labels and its value.
Sample = tuple[dict[str, str], float]


def service_urls(host: str = "127.0.0.1", env: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {
        name: f"http://{host}:{env.get(PORT_VARIABLES[name]) or DEFAULT_PORTS[name]}" for name in SERVICES
    }


@dataclass
class ServiceProbe:
    name: str
    url: str
    up: bool = False
    ready: bool = False
    reason: str = ""  # why it is down or not ready, in the service's own words when it gave any
    metrics: dict[str, list[Sample]] = field(default_factory=dict)

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 when absent)."""
        return sum(
            value
            for sample_labels, value in self.metrics.get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())
        )

    def by_label(self, name: str, label: str) -> dict[str, float]:
        totals: dict[str, float] = {}
        for sample_labels, value in self.metrics.get(name, []):
            key = sample_labels.get(label, "")
            totals[key] = totals.get(key, 0.0) + value
        return totals


def parse_metrics(text: str) -> dict[str, list[Sample]]:
    from prometheus_client.parser import text_string_to_metric_families

    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


class NotListening(OSError):
    """Nothing accepted the connection: refused, no route, or a host name that does not resolve."""


def unanswered_because(exc: BaseException) -> str:
    """Why a connection or request got no answer, in the words of every probe."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_SECONDS:g} s"
    if isinstance(exc, NotListening):
        return NOT_LISTENING
    return type(exc).__name__


async def _get(url: str) -> tuple[int, str]:
    """(status, body) of a GET; HTTP/1.0, so the body comes whole (never chunked) and the server closes."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise NotListening(f"only http:// is probed, not {parts.scheme}://")
    async with asyncio.timeout(PROBE_SECONDS):
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        except OSError as exc:
            raise NotListening(str(exc)) from exc
        try:
            writer.write(f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(":", 1) for line in header_lines if ":" in line)
            length = headers.get("content-length", "").strip()
            body = await (reader.readexactly(int(length)) if length.isdigit() else reader.read(MAX_BODY))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return int(status_line.split(" ", 2)[1]), body.decode("utf-8", "replace")


async def probe(name: str, url: str, metrics: bool = True) -> ServiceProbe:
    result = ServiceProbe(name, url)
    paths = ["/healthz", "/readyz"] + (["/metrics"] if metrics else [])
    answers = await asyncio.gather(*(_get(url + path) for path in paths), return_exceptions=True)
    health, ready = answers[0], answers[1]
    if isinstance(health, BaseException):
        result.reason = f"{unanswered_because(health)} ({url})"
        return result
    result.up = health[0] == 200
    if isinstance(ready, BaseException):
        result.reason = unanswered_because(ready)
    else:
        result.ready = ready[0] == 200
        if not result.ready:
            result.reason = _reason_in(ready[1]) or f"/readyz answered {ready[0]}"
    if metrics and not isinstance(answers[2], BaseException) and answers[2][0] == 200:
        result.metrics = parse_metrics(answers[2][1])
    return result


def _reason_in(body: str) -> str:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(answer.get("reason", "")) if isinstance(answer, dict) else ""


async def probe_all(urls: Mapping[str, str], metrics: bool = True) -> dict[str, ServiceProbe]:
    probes = await asyncio.gather(*(probe(name, url, metrics) for name, url in urls.items()))
    return {p.name: p for p in probes}


async def read_counters(urls: Mapping[str, str], of: Collection[str]) -> dict[str, ServiceProbe]:
    """Only the /metrics of the services in ``of`` (the others are left empty): the counters of a rate."""
    names = [name for name in urls if name in of]
    answers = await asyncio.gather(*(_get(urls[name] + "/metrics") for name in names), return_exceptions=True)
    probes = {name: ServiceProbe(name, url) for name, url in urls.items()}
    for name, answer in zip(names, answers, strict=True):
        if not isinstance(answer, BaseException) and answer[0] == 200:
            probes[name].metrics = parse_metrics(answer[1])
    return probes
