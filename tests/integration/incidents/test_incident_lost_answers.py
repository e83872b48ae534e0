"""An answer lost between nats-server and the analyst (a network blip, a server failover). Of the
incident log: the log itself says whether the entry was written. Of the reviews a batch asks for: they
are sent again, and the stream keeps one. Either way the batch is placed at once and once, not held
until the store's timeout and sent on without its incident."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import nats
import pytest
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._incidents import Incidents
from services.analyst._placement import Placed
from services.analyst._reviews import Reviewer
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal
from services.incidents._kv import WRONG_LAST_SEQUENCE
from tests.integration.incidents._storm import enriched, incident_settings, node_storm
from tests.integration.incidents.conftest import open_journal
from tests.support.nats_proxy import NatsProxy
from tests.support.nats_server import NatsServer
from tests.support.stream import read_subject, subject_count

SETTINGS = IncidentSettings(incidents_enabled=True)
# What the server's refusal of an append says: the subject's last sequence was not the one expected.
REFUSED = f'"err_code":{WRONG_LAST_SEQUENCE}'.encode()


class Lossy(NamedTuple):
    proxy: NatsProxy
    journal: Journal
    store: IncidentStore


@pytest.fixture
async def lossy(nats_server: NatsServer) -> AsyncIterator[Lossy]:
    """A replica's log and store read and written through a hop that loses the server's messages on
    request."""
    proxy = NatsProxy(nats_server.port)
    nc = await nats.connect(await proxy.start())
    journal = await open_journal(nc.jetstream(), nats_server)
    store = await IncidentStore.open(nc.jetstream(), "test-incidents", incident_settings(nats_server.url))
    yield Lossy(proxy, journal, store)
    await journal.close()
    await nc.close()
    await proxy.close()


async def counted_by_a_new_replica(js: JetStreamContext, nats_server: NatsServer, ids: set[str]) -> list[int]:
    """Each incident's member count as a replica started now reads the log."""
    replica = await open_journal(js, nats_server)
    try:
        return [state.member_count if state else 0 for state in map(replica.state, ids)]
    finally:
        await replica.close()


def log_ack(journal: Journal) -> bytes:
    """What the server's acknowledgement of an append to ``journal``'s log says, in part."""
    return f'"stream":"{journal.stream}"'.encode()


async def two_storms_placed_losing(proxy: NatsProxy, incidents: Incidents, answer: bytes) -> list[Placed]:
    """Two storms placed one after the other, the server's first message holding ``answer`` lost
    while the first is; each alert's place. The batch waits on the store at most its timeout (2 s),
    and the answer's own is 10 s: placed, the loss cost it nothing."""
    first, later = node_storm(30, node="ip-10-0-1-7"), node_storm(30, node="ip-10-0-2-9")
    proxy.lose_next(lambda _subject, payload: answer in payload)
    await asyncio.wait_for(incidents.prepare(first), 30)
    assert len(proxy.lost) == 1, "the answer was not lost: nothing was tested"
    places = [incidents.take(message) for message in first]
    await incidents.prepare(later)  # grouping goes on, with no pause
    places += [incidents.take(message) for message in later]
    assert not [p.degraded for p in places if p.degraded], "alerts sent on without their incident"
    assert all(p.ref is not None for p in places)
    return places


async def test_a_lost_acknowledgement_of_an_entry_the_log_has_costs_the_batch_nothing(
    lossy: Lossy,
    store: IncidentStore,
    js: JetStreamContext,
    nats_server: NatsServer,
) -> None:
    proxy, journal, _ = lossy
    incidents = Incidents(journal, store, Correlator(SETTINGS), SETTINGS)
    # Placed at once: it was the log that said the entry was written.
    places = await two_storms_placed_losing(proxy, incidents, log_ack(journal))
    # The entry stands where the log has it: the next batch followed it without a conflict.
    assert (journal.written, journal.lost) == (2, 0)
    assert (await js.stream_info(journal.stream)).state.messages == 2, "an entry written twice"
    storms = {p.ref.id for p in places if p.ref is not None}
    assert len(storms) == 2
    # Another replica reads each storm once: every alert counted once.
    assert await counted_by_a_new_replica(js, nats_server, storms) == [31, 31]


async def test_a_lost_refusal_of_an_entry_another_replica_wrote_before_is_told_by_the_log(
    lossy: Lossy,
    store: IncidentStore,
    js: JetStreamContext,
    nats_server: NatsServer,
) -> None:
    proxy, late, _ = lossy  # the replica whose answer is lost
    first = await open_journal(js, nats_server)
    storms = node_storm(30, node="ip-10-0-1-7"), node_storm(30, node="ip-10-0-2-9")
    try:
        # The late replica's view runs behind: the other's entry reaches it only once released.
        proxy.hold()
        refused = proxy.lose_next(lambda _subject, payload: REFUSED in payload)
        await Incidents(first, store, Correlator(SETTINGS), SETTINGS).prepare(storms[0])
    finally:
        await first.close()
    incidents = Incidents(late, store, Correlator(SETTINGS), SETTINGS)
    placing = asyncio.ensure_future(incidents.prepare(storms[1]))
    await asyncio.wait_for(refused.wait(), 10)  # its append refused, and the refusal lost
    await proxy.release()
    await asyncio.wait_for(placing, 30)

    places = [incidents.take(message) for message in storms[1]]
    assert not [p.degraded for p in places if p.degraded], "alerts sent on without their incident"
    # Placed again on the newer view, once.
    assert (late.written, late.lost) == (1, 1)
    assert (await js.stream_info(late.stream)).state.messages == 2
    assert await counted_by_a_new_replica(js, nats_server, {p.ref.id for p in places if p.ref}) == [31]


async def test_a_lost_acknowledgement_of_the_reviews_a_batch_asked_for_sends_them_again_and_one_is_kept(
    lossy: Lossy, js: JetStreamContext
) -> None:
    proxy, journal, store = lossy
    incidents = Incidents(journal, store, Correlator(SETTINGS), SETTINGS)
    # The only message of the alerts' stream a placement writes: its reviews, sent again.
    places = await two_storms_placed_losing(proxy, incidents, f'"stream":"{schemas.STREAM}"'.encode())
    assert len({p.ref.id for p in places if p.ref is not None}) == 2
    # Each incident's review asked for once: the stream kept one of the two sent.
    asked = await js.stream_info(schemas.STREAM, subjects_filter=schemas.REVIEW)
    assert sum((asked.state.subjects or {}).values()) == 2


async def test_a_review_whose_event_is_not_acknowledged_announces_it_once_and_records_it_sent(
    lossy: Lossy, js: JetStreamContext
) -> None:
    proxy, journal, store = lossy
    now = datetime.now(UTC)
    alert = enriched("HighCPUUsage", now, instance="node-1:9100", job="node-exporter")
    await Incidents(journal, store, Correlator(SETTINGS), SETTINGS, clock=lambda: now).prepare([alert])
    (asked,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    (review,) = asked.reviews
    due = now + timedelta(seconds=SETTINGS.incident_group_wait_seconds + 0.1)
    analyst = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry()))
    reviewer = Reviewer(journal, store, analyst, SETTINGS, llm=False, clock=lambda: due)
    # The review's first write to the alerts' stream is its event.
    acked = f'"stream":"{schemas.STREAM}"'.encode()
    proxy.lose_next(lambda _subject, payload: acked in payload)
    # Well within the answer's own timeout (10 s), after which the review came back to be done again.
    await asyncio.wait_for(reviewer.prepare([asked]), 5)
    await reviewer.handle(asked)  # done: not sent back
    assert len(proxy.lost) == 1, "the acknowledgement was not lost: nothing was tested"
    assert await subject_count(js, schemas.INCIDENT_OPENED) == 1
    # Recorded as told: its next event will be the second, and this one is not announced again.
    state = journal.state(review.id)
    assert state is not None
    assert (state.sequence, state.analysed_generation) == (1, state.generation)


async def test_reviews_asked_for_after_their_batch_went_on_degraded_are_sent_again_when_lost(
    lossy: Lossy, js: JetStreamContext
) -> None:
    proxy, journal, store = lossy
    # The store slower than the batch's patience: the batch goes on degraded while its entry is being
    # written; the entry is written, and its storm's review is asked for after no one waits any more.
    settings = IncidentSettings(incidents_enabled=True, incident_store_timeout_seconds=0.5)
    incidents = Incidents(journal, store, Correlator(settings), settings)
    storm = node_storm(30, node="ip-10-0-1-7")
    proxy.hold()
    lost = proxy.lose_next_sent(lambda subject, _payload: subject == schemas.REVIEW.encode())
    await asyncio.wait_for(incidents.prepare(storm), 10)
    places = [incidents.take(message) for message in storm]
    assert all(p.degraded for p in places), "the batch waited for its entry: nothing was tested"
    await proxy.release()
    await asyncio.wait_for(lost.wait(), 10)  # the entry written, the review asked for, and lost
    # Sent again all the same: the storm is announced, not left until one of its alerts comes back.
    (asked,) = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=1)
    (review,) = asked.reviews
    state = journal.state(review.id)
    assert state is not None
    assert state.member_count == 31, "not the storm's review"
    assert await subject_count(js, schemas.REVIEW) == 1
