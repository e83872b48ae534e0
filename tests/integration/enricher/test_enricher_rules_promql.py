"""Every query the enricher plans for 500 real alerting rules is PromQL a real Prometheus accepts.

The rules are the public collections users load (``../shared/benchmarks/prometheus-rules.json``,
read at run time). The planner rewrites each rule's expression (``alert_series`` strips the
threshold, parentheses and filters) and fills the packs with the rule's labels, so a planner
bug shows up as a 400 ``bad_data`` from Prometheus, which would cost that alert its evidence.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from schemas import Alert
from services.enricher import build_plan, load_packs
from tests.integration.enricher.prometheus_tsdb import (
    IncidentPrometheus,
    binaries_missing,
    incident_prometheus,
)

RULES = Path(__file__).resolve().parents[3] / ".." / "shared" / "benchmarks" / "prometheus-rules.json"

pytestmark = [
    pytest.mark.skipif(binaries_missing() is not None, reason=str(binaries_missing())),
    pytest.mark.skipif(
        not RULES.is_file(), reason=f"{RULES} is absent: the shared benchmark inputs are not checked out"
    ),
]


@pytest.fixture(scope="module")
def prometheus() -> Iterator[IncidentPrometheus]:
    with incident_prometheus() as running:
        yield running


def planned_queries() -> dict[tuple[str, str], str]:
    """(endpoint, PromQL) → the rule it was planned for, over every rule of the benchmark."""
    rules: list[dict[str, Any]] = json.loads(RULES.read_text(encoding="utf-8"))["rules"]
    packs = load_packs()
    queries: dict[tuple[str, str], str] = {}
    for rule in rules:
        url = f"http://prometheus:9090/graph?g0.expr={quote(rule['expr'])}&g0.tab=1"
        labels = {"alertname": rule["alert"], **rule["labels"]}
        alert = Alert(status="firing", labels=labels, starts_at=datetime.now(UTC), generator_url=url)
        for query in build_plan(alert, packs, 24).queries:
            queries.setdefault(("query_range", query.expr), rule["alert"])
            if query.exists:
                queries.setdefault(("series", query.exists), rule["alert"])
        queries.setdefault(("query", rule["expr"]), rule["alert"])  # the rule as written, for reference
    return queries


async def rejection(
    session: aiohttp.ClientSession, url: str, endpoint: str, promql: str, limiter: asyncio.Semaphore
) -> str | None:
    """Prometheus' error for a query it refuses as invalid; None when it accepts it."""
    end = time.time()
    if endpoint == "series":
        params = {"match[]": promql, "start": f"{end - 1800:.0f}", "end": f"{end:.0f}"}
    elif endpoint == "query_range":
        params = {"query": promql, "start": f"{end - 1800:.0f}", "end": f"{end:.0f}", "step": "15"}
    else:
        params = {"query": promql, "time": f"{end:.0f}"}
    async with limiter, session.get(f"{url}/api/v1/{endpoint}", params=params) as response:
        if response.status != 400:
            return None
        body = await response.json()
        return f"{body.get('errorType')}: {body.get('error')}"


async def test_no_planned_query_for_500_public_rules_is_invalid_promql(
    prometheus: IncidentPrometheus,
) -> None:
    queries = planned_queries()
    assert len(queries) > 1000  # every rule planned: its own series, packs, existence checks
    limiter = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        answers = await asyncio.gather(
            *(rejection(session, prometheus.url, endpoint, promql, limiter) for endpoint, promql in queries)
        )
    rejected = {key: reason for key, reason in zip(queries, answers, strict=True) if reason}
    # A rule Prometheus itself cannot parse is the collection's problem, not the planner's.
    broken_rules = {queries[key] for key in rejected if key[0] == "query"}
    ours = {
        f"{queries[key]} {key[0]} {key[1]!r}: {reason}"
        for key, reason in rejected.items()
        if key[0] != "query" and queries[key] not in broken_rules
    }
    assert not ours, "\n".join(sorted(ours)[:20])
    assert len(broken_rules) <= 5, sorted(broken_rules)
