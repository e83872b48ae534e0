"""The incidents consumer's batches on a real log: every due review of a batch announced once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import Incidents
from services.analyst._reviews import Reviewer
from services.analyst._root_analyses import RootAnalyses
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.incidents._lifecycle import Exemplar
from services.runtime import Backlog, RetryLater
from tests.integration.incidents._storm import enriched, node_storm
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)


def _reviewer(
    journal: Journal,
    store: IncidentStore,
    clock: Callable[[], datetime],
    *,
    registry: CollectorRegistry | None = None,
    llm: bool = False,
    alerts: Backlog | None = None,
    defer: float | None = None,
) -> Reviewer:
    """``registry`` receives its metrics; ``alerts``, the analyst's backlog it gives way to for ``defer``."""
    analyst = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(registry or CollectorRegistry()))
    return Reviewer(journal, store, analyst, SETTINGS, llm=llm, clock=clock, alerts=alerts, defer=defer)


def _one(review: schemas.IncidentReview) -> schemas.IncidentReviews:
    return schemas.IncidentReviews(reviews=[review])


def _from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and goes on as time does."""
    began = datetime.now(UTC)
    return lambda: start + (datetime.now(UTC) - began)


async def test_a_batch_of_reviews_announces_each_incident_once_holding_those_due_soon(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    wait = SETTINGS.incident_group_wait_seconds
    alerts = [
        enriched("HighCPUUsage", now, instance=f"node-{n}:9100", job="node-exporter") for n in range(40)
    ]
    correlator = Correlator(SETTINGS)
    await Incidents(journal, store, correlator, SETTINGS, clock=lambda: now).prepare(alerts[:30])
    later = now + timedelta(seconds=wait / 2)
    await Incidents(journal, store, correlator, SETTINGS, clock=lambda: later).prepare(alerts[30:])
    # A batch's reviews go in one message (two batches, due at two times: two messages).
    messages = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=2)
    assert await subject_count(js, schemas.REVIEW) == 2
    reviews = [review for message in messages for review in message.reviews]
    assert len(reviews) == 40
    due_at = now + timedelta(seconds=wait + 0.1)
    # One incident announced by another replica already: its review comes back to this one too.
    await _reviewer(journal, store, lambda: due_at).handle(_one(reviews[0]))
    # A review due long after the batch (a resolution's grace, say) is not held: it goes back.
    far = msgspec.structs.replace(reviews[1], kind="resolve", due=due_at + timedelta(seconds=60))

    reviewer = _reviewer(journal, store, _from(due_at))
    await reviewer.prepare([*messages, _one(far)])
    put_back = []
    for review in [*reviews, far]:
        try:
            await reviewer.handle(_one(review))
        except RetryLater as exc:
            put_back.append((review, exc.delay))

    ((sent_back, delay),) = put_back
    assert sent_back == far
    assert delay is not None
    assert 50 < delay <= 60  # what is left of its minute once the others were held
    opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=40)
    assert await subject_count(js, schemas.INCIDENT_OPENED) == 40
    assert sorted(event.incident.id for event in opened) == sorted(r.id for r in reviews)
    assert all(event.sequence == 1 and event.incident.member_count == 1 for event in opened)
    # The ten opened later were held until their own grouping wait was over, not announced early.
    due = {review.id: review.due for review in reviews}
    assert all(event.sent_at >= due[event.incident.id] for event in opened)
    for state in map(journal.state, (r.id for r in reviews)):
        assert state is not None
        assert (state.sequence, state.analysed_generation) == (1, state.generation)
        assert state.analysis is not None


# What an analysis says when it had no metric or log evidence to read.
ALONE = "judged from the alert alone"


def _with_logs(message: schemas.EnrichedAlert, line: str) -> schemas.EnrichedAlert:
    at = message.alert.starts_at
    template = schemas.LogTemplate(template=line, count=3, severity="error", first=at, last=at, sample=line)
    logs = schemas.LogEvidence(query='{node="ip-10-0-1-7"}', lines=3, templates=[template])
    return msgspec.structs.replace(message, evidence=schemas.Evidence(logs=logs))


async def _placed_as_enriched(
    journal: Journal, store: IncidentStore, js: JetStreamContext, messages: list[schemas.EnrichedAlert]
) -> tuple[dict[str, int], schemas.IncidentReviews]:
    """The messages published as the enricher does, then placed as the analyst that got them from
    the stream does (each with its sequence there); their incident's review message."""
    sequences = {}
    for message in messages:
        sequences[message.id] = (await js.publish(schemas.ENRICHED, schemas.encode(message))).seq
    now = messages[0].alert.starts_at
    await Incidents(journal, store, Correlator(SETTINGS), SETTINGS, clock=lambda: now).prepare(
        messages, sequences
    )
    (review,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    return sequences, review


async def _opened_elsewhere(
    journal: Journal, store: IncidentStore, js: JetStreamContext, message: schemas.IncidentReviews
) -> schemas.IncidentEvent:
    """The incident's event once due, reviewed by a replica that did not place it (nothing of the
    incident in its memory)."""
    due_at = message.reviews[0].due + timedelta(seconds=0.1)
    await _reviewer(journal, store, lambda: due_at).handle(message)
    (opened,) = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=1)
    return opened


def _judged_alone(event: schemas.IncidentEvent) -> bool:
    assert event.incident.analysis is not None
    return any(ALONE in evidence for evidence in event.incident.analysis.evidence)


async def test_an_incident_is_analysed_from_its_exemplars_read_where_the_alerts_stream_keeps_them(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    line = "kubelet stopped posting node status"
    down, *pods = node_storm(3, datetime.now(UTC))
    _, message = await _placed_as_enriched(journal, store, js, [_with_logs(down, line), *pods])

    opened = await _opened_elsewhere(journal, store, js, message)

    # Judged with the root's logs, which only its message in the stream carries.
    assert not _judged_alone(opened)


async def test_an_exemplar_gone_from_the_alerts_stream_leaves_a_gap_not_a_failed_review(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    line = "kubelet stopped posting node status"
    down, *pods = node_storm(3, datetime.now(UTC))
    root = _with_logs(down, line)
    sequences, message = await _placed_as_enriched(journal, store, js, [root, *pods])
    # Past the stream's retention (STREAM_MAX_AGE_HOURS, STREAM_MAX_BYTES), or removed by an operator.
    await js.delete_msg(schemas.STREAM, sequences[root.id])

    opened = await _opened_elsewhere(journal, store, js, message)

    assert opened.incident.root is not None
    assert opened.incident.root.alertname == "KubeNodeNotReady"
    assert _judged_alone(opened)


async def test_exemplars_are_read_when_an_older_service_turned_direct_reads_off(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    down, *pods = node_storm(3, datetime.now(UTC))
    _, message = await _placed_as_enriched(journal, store, js, [_with_logs(down, "kubelet stopped"), *pods])
    # What a service of the version before does at start: the stream updated without allow_direct.
    config = (await js.stream_info(schemas.STREAM)).config
    config.allow_direct = False
    await js.update_stream(config)

    assert not _judged_alone(await _opened_elsewhere(journal, store, js, message))


async def test_another_alerts_message_at_an_exemplars_sequence_is_not_taken_for_it(
    store: IncidentStore, js: JetStreamContext
) -> None:
    down, pod, *_ = node_storm(2, datetime.now(UTC))
    sequences = {}
    for message in (down, pod):
        sequences[message.id] = (await js.publish(schemas.ENRICHED, schemas.encode(message))).seq
    episode = schemas.episode_key(down.alert)
    right = Exemplar(alertname="KubeNodeNotReady", episode=episode, sequence=sequences[down.id])
    # The stream deleted and made again: the sequence now holds another alert's message.
    wrong = Exemplar(alertname="KubeNodeNotReady", episode=episode, sequence=sequences[pod.id])

    found = await store.exemplars_of([("inc-right", [right]), ("inc-wrong", [wrong])])

    assert found == [[(down, sequences[down.id])], []]


async def test_a_one_alert_incident_is_announced_with_its_roots_own_answer_and_a_grown_one_explains_the_rest(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    now = datetime.now(UTC)
    lone = enriched("HighCPUUsage", now, instance="node-1:9100", job="node-exporter")
    node = "ip-10-0-3-3"
    pods = [enriched("KubePodNotReady", now, namespace="shop", pod=f"web-{n}", node=node) for n in range(2)]
    messages = [lone, *pods]
    sequences = {m.id: (await js.publish(schemas.ENRICHED, schemas.encode(m))).seq for m in messages}
    rules = RulesAnalyst()
    roots = RootAnalyses(rules)
    incidents = Incidents(journal, store, Correlator(SETTINGS), SETTINGS, clock=lambda: now, roots=roots)
    await incidents.prepare(messages, sequences)
    # Each alert analysed as the analyst does, its answer marked: the incidents' analyses say which
    # answer they were made from.
    answers = {m.id: rules.analyze(m) for m in messages}
    for message in messages:
        answer = answers[message.id]
        incidents.take(message, msgspec.structs.replace(answer, summary=f"kept: {answer.summary}"))
    (reviews,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    due_at = max(review.due for review in reviews.reviews) + timedelta(seconds=0.1)
    analyst = IncidentAnalyst(rules, AnalystMetrics(CollectorRegistry()))
    reviewer = Reviewer(journal, store, analyst, SETTINGS, llm=False, clock=lambda: due_at, roots=roots)
    await reviewer.handle(reviews)

    opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=2)
    analyses = {event.incident.member_count: event.incident.analysis for event in opened}
    assert sorted(analyses) == [1, 2], "the two pods were meant to be one incident"
    alone, grown = analyses[1], analyses[2]
    assert alone is not None
    assert grown is not None
    # The lone alert's incident says what the alert's own analysis said, no more.
    assert alone == msgspec.structs.replace(answers[lone.id], summary=f"kept: {answers[lone.id].summary}")
    # The pods' incident starts from its root's answer and says what else its root explains.
    assert grown.summary.startswith("kept: ")
    assert "explains 1 other alert" in grown.summary


async def _three_new_incidents(
    journal: Journal, store: IncidentStore, js: JetStreamContext, now: datetime
) -> schemas.IncidentReviews:
    alerts = [enriched("HighCPUUsage", now, instance=f"node-{n}:9100", job="node-exporter") for n in range(3)]
    await Incidents(journal, store, Correlator(SETTINGS), SETTINGS, clock=lambda: now).prepare(alerts)
    (message,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    return message


def _deferred_count(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("aiops_incident_reviews_deferred_total") or 0.0


async def _deferred(registry: CollectorRegistry, reviewing: asyncio.Task[Any]) -> None:
    """Once the reviewer is waiting for the alerts (its counter of deferred reviews moved)."""
    async with asyncio.timeout(10):
        while not _deferred_count(registry):
            assert not reviewing.done(), "the reviews went ahead of the queued alerts"
            await asyncio.sleep(0.01)


async def _reviewed(reviewer: Reviewer, message: schemas.IncidentReviews, *, llm: bool) -> None:
    """As the incidents consumer works a message: a batch prepared whole, or (LLM) one by one."""
    if not llm:
        await reviewer.prepare([message])
    await reviewer.handle(message)


@pytest.mark.parametrize("llm", [False, True], ids=["inline", "each"])
async def test_due_incidents_wait_for_the_alerts_queued_for_the_analyst_then_are_announced(
    store: IncidentStore, journal: Journal, js: JetStreamContext, llm: bool
) -> None:
    now = datetime.now(UTC)
    message = await _three_new_incidents(journal, store, js, now)
    registry = CollectorRegistry()
    alerts = Backlog()
    alerts.told(500)  # a flood: the analyst's consumer of alerts has 500 waiting at the server
    due_at = message.reviews[0].due + timedelta(seconds=0.1)
    reviewer = _reviewer(journal, store, _from(due_at), registry=registry, llm=llm, alerts=alerts, defer=60)

    reviewing = asyncio.create_task(_reviewed(reviewer, message, llm=llm))
    await _deferred(registry, reviewing)
    assert await subject_count(js, schemas.INCIDENT_OPENED) == 0
    alerts.told(0)  # the flood placed
    await asyncio.wait_for(reviewing, 10)

    opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=3)
    assert sorted(e.incident.id for e in opened) == sorted(r.id for r in message.reviews)


async def test_due_incidents_wait_for_queued_alerts_no_longer_than_the_deferral(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    message = await _three_new_incidents(journal, store, js, datetime.now(UTC))
    due = message.reviews[0].due
    alerts = Backlog()
    alerts.told(500)  # and it never catches up
    reviewer = _reviewer(journal, store, _from(due), alerts=alerts, defer=0.5)

    await asyncio.wait_for(_reviewed(reviewer, message, llm=False), 10)

    opened = await read_subject(js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=3)
    # Not a minute (or the 4 s default) late: half a second, and what a loaded machine adds.
    assert all(due + timedelta(seconds=0.5) <= event.sent_at < due + timedelta(seconds=5) for event in opened)


async def test_an_analyst_keeping_up_announces_due_incidents_without_waiting(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    message = await _three_new_incidents(journal, store, js, datetime.now(UTC))
    due = message.reviews[0].due
    registry = CollectorRegistry()
    reviewer = _reviewer(journal, store, _from(due), registry=registry, alerts=Backlog(), defer=60)

    await asyncio.wait_for(_reviewed(reviewer, message, llm=False), 10)

    assert await subject_count(js, schemas.INCIDENT_OPENED) == 3
    assert _deferred_count(registry) == 0
