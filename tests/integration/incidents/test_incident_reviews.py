"""The incidents consumer's batches on a real bucket: every due review of a batch announced once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import Incidents
from services.analyst._reviews import Reviewer
from services.incidents import Correlator, IncidentSettings, IncidentStore
from services.runtime import RetryLater
from tests.integration.incidents._storm import enriched
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)


def _reviewer(store: IncidentStore, js: JetStreamContext, at: datetime) -> Reviewer:
    analyst = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    return Reviewer(store, analyst, SETTINGS, js, llm=False, clock=lambda: at)


async def test_a_batch_of_due_reviews_announces_each_incident_once_and_puts_back_those_not_due(
    store: IncidentStore, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    alerts = [
        enriched("HighCPUUsage", now, instance=f"node-{n}:9100", job="node-exporter") for n in range(40)
    ]
    await Incidents(store, Correlator(SETTINGS), SETTINGS, js, clock=lambda: now).prepare(alerts[:30])
    later = now + timedelta(seconds=SETTINGS.incident_group_wait_seconds / 2)
    await Incidents(store, Correlator(SETTINGS), SETTINGS, js, clock=lambda: later).prepare(alerts[30:])
    reviews = await read_subject(js, schemas.REVIEW, schemas.IncidentReview, count=40)
    due_at = now + timedelta(seconds=SETTINGS.incident_group_wait_seconds + 0.1)
    # One incident announced by another replica already: its review comes back to this one too.
    await _reviewer(store, js, due_at).handle(reviews[0])

    reviewer = _reviewer(store, js, due_at)
    await reviewer.prepare(reviews)
    put_back = []
    for review in reviews:
        try:
            await reviewer.handle(review)
        except RetryLater as exc:
            put_back.append((review.id, exc.delay))

    # The ten opened later are not due: each put back until its own grouping wait is over.
    assert sorted(i for i, _ in put_back) == sorted(r.id for r in reviews[30:])
    assert all(
        delay == pytest.approx(SETTINGS.incident_group_wait_seconds / 2 - 0.1) for _, delay in put_back
    )
    opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=30)
    assert await subject_count(js, schemas.INCIDENT_OPENED) == 30
    assert sorted(event.incident.id for event in opened) == sorted(r.id for r in reviews[:30])
    assert all(event.sequence == 1 and event.incident.member_count == 1 for event in opened)
    for state, _ in await store.states([r.id for r in reviews[:30]]):
        assert state is not None
        assert (state.sequence, state.analysed_generation) == (1, state.generation)
        assert state.analysis is not None
