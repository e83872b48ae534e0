"""The analyst's incident work in one process, on a real nats-server: what a flood of distinct alerts
(each its own incident, the worst case) costs to place and to review, per alert; and what a flood of
storms (a node and its 99 pods each, ``bench.pipeline``'s) costs to place, where the correlation
itself is the work (each alert matched against incidents of a hundred members).

``python -m bench.incident_work [N]`` (default 10,000 alerts). The pipeline benchmark's rounds move by
a third on this shared machine, and its CPU per alert with them; here one process does only the
incident work, timed by its own CPU clock, so a change to that work shows through the noise:

    placement   ``Incidents.prepare`` over batches of 500 (the correlation, the log's entries, the
                reviews sent), each alert then taken with its rules answer as the analyst does;
                on distinct alerts and on storms
    reviews     every incident's review once due (``Reviewer.prepare``/``handle``): the analysis,
                the event published, the state recorded
    baseline    the rules' analysis of each alert, the analyst's own work per alert without incidents

It prints each as CPU per alert, nats-server's CPU per alert beside them, the log's bytes per alert,
and each against the baseline measured in the same run. No floor: ``bench.pipeline``'s rounds hold the
floors; this says where the incident work's time goes (docs/incidents-throughput.md, "Exemplars by
reference").
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
from loguru import logger
from prometheus_client import CollectorRegistry

import schemas
from bench._report import cpu_seconds, heading, row
from services.analyst import AnalystMetrics, AnalystSettings, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import Incidents
from services.analyst._reviews import Reviewer
from services.analyst._root_analyses import RootAnalyses
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.runtime import connect, provision
from services.runtime._stage import YOUNG_OBJECTS_PER_COLLECTION
from tests.support.nats_server import NatsServer
from tests.support.services import settings_for
from tests.support.webhooks import ALERTS_PER_WEBHOOK, storm_webhook, webhook

BATCH = 500  # what the analyst's turn places at once in a flood
BUCKET = "bench-incidents"


def flood(n: int, now: datetime, make: Callable[[str, int], bytes] = webhook) -> list[schemas.EnrichedAlert]:
    """The pipeline benchmark's distinct alerts (``make=storm_webhook``: its storms), as the enricher
    would hand them on (no evidence)."""
    messages = []
    for start in range(0, n, ALERTS_PER_WEBHOOK):
        body = orjson.loads(make("work", start))
        for raw in body["alerts"]:
            alert = schemas.Alert(
                status="firing",
                labels=raw["labels"],
                annotations=raw.get("annotations", {}),
                starts_at=now,
                fingerprint=raw["fingerprint"],  # Alertmanager sends one with every alert, as the flood does
            )
            group = schemas.GroupContext(group_key=body.get("groupKey", ""))
            messages.append(
                schemas.EnrichedAlert(
                    id=schemas.alert_id(alert), alert=alert, group=group, received_at=now, enriched_at=now
                )
            )
    return messages[:n]


async def measure(n: int, storms: bool = False) -> dict[str, float]:
    """Every figure of N distinct alerts; with ``storms``, the placement of N alerts of storms and its
    baseline only (a storm's incident is reviewed once, its cost spread over a hundred alerts)."""
    server = NatsServer().start()
    threshold = gc.get_threshold()
    try:
        settings = settings_for(AnalystSettings, server.url)
        nc = await connect(settings, "bench-incident-work")
        js = nc.jetstream()
        await provision(js, settings)
        grouping = IncidentSettings(incidents_enabled=True, incident_store_timeout_seconds=60)
        journal = await Journal.open(js, BUCKET, settings, timedelta(hours=1))
        await journal.until_ready()
        store = await IncidentStore.open(js, BUCKET, settings)
        rules = RulesAnalyst()
        roots = RootAnalyses(rules)
        now = datetime.now(UTC)
        correlator = Correlator(grouping)
        incidents = Incidents(journal, store, correlator, grouping, clock=lambda: now, roots=roots)
        messages = flood(n, now, storm_webhook if storms else webhook)
        # Where the stream keeps each, as the enricher publishes them: the exemplars are read there.
        sequences = {}
        for first in range(0, n, BATCH):
            batch = messages[first : first + BATCH]
            acks = [await js.publish_async(schemas.ENRICHED, schemas.encode(message)) for message in batch]
            for message, ack in zip(batch, await asyncio.gather(*acks), strict=True):
                sequences[message.id] = ack.seq
        # As a service runs: what exists before the work is frozen, young objects collected as it does.
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *threshold[1:])

        started = time.process_time()
        answers = [rules.analyze(message) for message in messages]
        baseline = time.process_time() - started

        sub = await js.subscribe(schemas.REVIEW, ordered_consumer=True)
        started, server_started = time.process_time(), cpu_seconds(server.pid)
        for first in range(0, n, BATCH):
            batch = messages[first : first + BATCH]
            # the batch's own sequences, as the runtime hands them: ``prepare`` reads every one given
            await incidents.prepare(batch, {message.id: sequences[message.id] for message in batch})
            for message, answer in zip(batch, answers[first : first + BATCH], strict=True):
                incidents.take(message, answer)
        placing = time.process_time() - started
        placing_server = cpu_seconds(server.pid) - server_started
        figures = {"baseline": baseline, "placing": placing, "placing_server": placing_server}
        # A storm's incident is reviewed once: its review is no cost per alert, and is not timed.
        if not storms:
            reviews: list[schemas.IncidentReviews] = []
            while sum(len(listed.reviews) for listed in reviews) < n:
                msg = await sub.next_msg(timeout=30)
                reviews.append(schemas.decode(msg.data, schemas.IncidentReviews))
            await sub.unsubscribe()
            due = max(review.due for listed in reviews for review in listed.reviews) + timedelta(seconds=1)
            analyst = IncidentAnalyst(rules, AnalystMetrics(CollectorRegistry()))
            reviewer = Reviewer(journal, store, analyst, grouping, llm=False, clock=lambda: due, roots=roots)
            started, server_started = time.process_time(), cpu_seconds(server.pid)
            await reviewer.prepare(reviews)
            for listed in reviews:
                await reviewer.handle(listed)
            figures["reviewing"] = time.process_time() - started
            figures["reviewing_server"] = cpu_seconds(server.pid) - server_started

            opened = await js.stream_info(schemas.STREAM, subjects_filter=schemas.INCIDENT_OPENED)
            assert sum((opened.state.subjects or {}).values()) == n, "every incident announced once"
        log = await js.stream_info(f"{BUCKET}-log")
        await journal.close()
        await nc.close()
    finally:
        gc.unfreeze()  # the process goes on as it was (a test runs this too)
        gc.set_threshold(*threshold)
        server.close()
    per = 1e6 / n
    return {**{name: seconds * per for name, seconds in figures.items()}, "log_bytes": log.state.bytes / n}


def report(n: int, m: dict[str, float], storms: dict[str, float]) -> None:
    heading(f"incident work in one process: {n:,} distinct alerts, each its own incident (no floor)")
    row("rules analysis of each alert (baseline)", f"{m['baseline']:,.0f} µs", "CPU per alert, this process")
    row(
        "placement (correlated, logged, reviews sent)",
        f"{m['placing']:,.0f} µs",
        f"{m['placing'] / m['baseline']:.1f}x the baseline; nats-server {m['placing_server']:,.0f} µs",
    )
    row(
        "review (analysed, announced, recorded)",
        f"{m['reviewing']:,.0f} µs",
        f"{m['reviewing'] / m['baseline']:.1f}x the baseline; nats-server {m['reviewing_server']:,.0f} µs",
    )
    row("the incidents' log", f"{m['log_bytes']:,.0f} B", "per alert (placement and review entries)")
    row(
        "placement, storms (a node and its 99 pods)",
        f"{storms['placing']:,.0f} µs",
        f"{storms['placing'] / storms['baseline']:.1f}x the baseline of the storms' alerts "
        f"({storms['baseline']:,.0f} µs); nats-server {storms['placing_server']:,.0f} µs",
    )


if __name__ == "__main__":
    logger.remove()  # a review batch's announcements are logged; the figures are what this prints
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    report(count, asyncio.run(measure(count)), asyncio.run(measure(count, storms=True)))
