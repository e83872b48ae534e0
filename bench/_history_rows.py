"""Rows for the history benchmark: realistic analyses to write, and a million list rows generated fast.

The million rows go straight into the history's tables with ``executemany`` (through the same migrations):
varied names, labels and words so filters and search select realistic fractions, and a short body, since
lists never read bodies.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from datetime import timedelta

import msgspec

import schemas
from services.history._db import Params
from services.history._write import ALERT_COLUMNS, micros
from tests.support.history import T0, analyzed

PARTS = (
    "CPU",
    "Memory",
    "Disk",
    "Latency",
    "Errors",
    "Restarts",
    "Connections",
    "Queue",
    "Certificate",
    "Replicas",
)
ALERTNAMES = [f"{kind}{part}" for kind in ("High", "Low", "Many", "Slow") for part in PARTS]
SEVERITIES = ["critical", "warning", "warning", "info"]
NAMESPACES = [f"team-{n}" for n in range(40)]
SERVICES = [f"svc-{n}" for n in range(400)]
WORDS = [f"word{n}" for n in range(5000)] + ["timeout", "oom", "disk", "latency", "checkout", "replica"]


def evidence(n: int) -> schemas.Evidence:
    """Three metric series of 60 points and five log templates: the size of a real enriched alert."""
    start = T0.timestamp() + n
    series = schemas.SeriesSummary(
        labels={"pod": f"checkout-{n % 7}"}, samples=60, min=0.1, max=0.98, mean=0.5, last=0.97,
        points=[(start + 15 * i, 0.1 + i / 70) for i in range(60)],
    )  # fmt: skip
    metrics = [schemas.MetricEvidence(name=name, query=f"{name}{{pod='x'}}", series=[series]) for name in (
        "cpu", "memory", "latency")]  # fmt: skip
    at = T0 + timedelta(seconds=n)
    templates = [
        schemas.LogTemplate(
            template=f"request <*> failed after <*> ms on {word}",
            count=12 + i,
            severity="error",
            first=at,
            last=at,
            sample=f"request 81f2 failed after 3012 ms on {word}",
        )
        for i, word in enumerate(("db", "cache", "queue", "auth", "payments"))
    ]
    logs = schemas.LogEvidence(query='{app="checkout"}', lines=400, templates=templates)
    return schemas.Evidence(metrics=metrics, logs=logs)


def realistic(count: int, offset: int = 0) -> list[schemas.AnalyzedAlert]:
    rng = random.Random(offset)
    out = []
    for n in range(offset, offset + count):
        message = analyzed(
            n, alertname=rng.choice(ALERTNAMES),
            labels={"pod": f"checkout-{n % 7}", "severity": rng.choice(SEVERITIES)},
        )  # fmt: skip
        out.append(msgspec.structs.replace(message, evidence=evidence(n)))
    return out


def unenriched(count: int, offset: int = 0) -> list[schemas.AnalyzedAlert]:
    """Analyses without metric or log evidence (no source configured, as in the pipeline bench): 2 KB of
    JSON each, the rules analyst's evidence and remediation lines."""
    errors = [
        schemas.EnrichmentError(
            source=source,
            reason=f"{source.upper()}_URL is not set",
            kind=schemas.SourceErrorKind.NOT_CONFIGURED,
        )
        for source in ("prometheus", "loki")
    ]
    rng = random.Random(offset)
    out = []
    for n in range(offset, offset + count):
        name, node = rng.choice(ALERTNAMES), f"node-{n % 50}:9100"
        message = analyzed(
            n, alertname=name, labels={"instance": node, "job": "node-exporter", "severity": "warning"},
            annotations={"summary": f"{name} on {node}", "description": f"{name} above its threshold for 5m"},
            evidence=[f"alert {name}: {name} on {node}", f"the alert's name says {name!r}",
                      "no metric or log evidence was available; judged from the alert alone",
                      "enrichment prometheus unavailable: PROMETHEUS_URL is not set",
                      "enrichment loki unavailable: LOKI_URL is not set"],
            remediation=[f"Find the consumer: `kubectl top pod -A --sort-by=cpu | head` or `top` on {node}",
                         "Check throttling at a container limit: `rate(container_cpu_cfs_throttled_periods"
                         "_total[5m]) / rate(container_cpu_cfs_periods_total[5m])`",
                         "Raise the limit, scale out, or stop the runaway process"],
        )  # fmt: skip
        out.append(msgspec.structs.replace(message, evidence=schemas.Evidence(errors=errors)))
    return out


EMPTY_BODY = zlib.compress(b"{}")
INSERT = f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({', '.join('?' for _ in ALERT_COLUMNS.split(','))})"


def bulk_rows(count: int, seed: int = 7) -> Iterator[Params]:
    """``count`` list rows over 30 days, ids and times unique."""
    rng = random.Random(seed)
    start = micros(T0 - timedelta(days=30))
    step = 30 * 86_400_000_000 // count
    for n in range(count):
        received = start + n * step
        name, service, category = rng.choice(ALERTNAMES), rng.choice(SERVICES), rng.choice(schemas.CATEGORIES)
        words = " ".join(rng.choices(WORDS, k=6))
        summary = f"{name} on {service}: {words}"
        degraded = int(rng.random() < 0.05)
        yield (
            f"b{n:09d}", received, received, received - 30_000_000, None, f"fp{n % 50_000}", name,
            "firing" if rng.random() < 0.7 else "resolved", rng.choice(SEVERITIES), rng.choice(NAMESPACES),
            service, category, summary, "rules" if degraded else rng.choice(("llm", "rules")),
            degraded, "", 0.7, 1, 900, 150, f"{name} {service} {summary}", EMPTY_BODY,
        )  # fmt: skip
