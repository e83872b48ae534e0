"""The store's batched paths on a real bucket and log: many keys read at once, batches placed together."""

from __future__ import annotations

import asyncio

from loguru import logger
from nats.js import JetStreamContext

import schemas
from services.analyst import SPEC
from services.analyst._incidents import Incidents
from services.incidents import Correlator, IncidentSettings, IncidentStore, Journal, MemberRecord
from services.incidents._kv import BATCH_READ_BYTES, BATCH_READ_MAX
from services.runtime import key_value_bucket
from tests.integration.incidents._storm import distinct, incident_settings, node_storm, publish
from tests.support.nats_server import NatsServer
from tests.support.services import running_stage
from tests.support.stream import read_subject

SETTINGS = IncidentSettings(incidents_enabled=True)


async def test_a_bucket_made_without_direct_reads_is_given_them_and_reads_its_values(
    js: JetStreamContext, nats_server: NatsServer
) -> None:
    settings = incident_settings(nats_server.url)
    kv = await key_value_bucket(js, settings, "test-direct", "made elsewhere", 0)
    await kv.put("member.x", schemas.encode(MemberRecord(incident="inc-x", role="root")))
    assert not (await js.stream_info("KV_test-direct")).config.allow_direct

    store = await IncidentStore.open(js, "test-direct", settings)

    assert (await js.stream_info("KV_test-direct")).config.allow_direct
    assert store.pipe.direct
    ((found, revision), absent) = await store.pipe.get_many(["member.x", "member.absent"])
    assert found == schemas.encode(MemberRecord(incident="inc-x", role="root"))
    assert revision > 0
    assert absent == (None, 0)


async def _put_all(store: IncidentStore, items: list[tuple[str, bytes]]) -> None:
    """The bucket's keys written side by side, as the version before wrote its exemplars."""
    await store.pipe.settle([await store.pipe.send(store.pipe.key_prefix + k, v) for k, v in items])


async def test_many_keys_read_at_once_are_each_what_a_read_of_that_key_alone_finds(
    store: IncidentStore,
) -> None:
    # More keys than one batched read asks for, present, deleted, absent and asked twice.
    present = [f"member.p{i}" for i in range(BATCH_READ_MAX + 200)]
    await _put_all(store, [(key, schemas.encode(MemberRecord(incident=key, role="root"))) for key in present])
    await store.kv.delete(present[3])
    keys = [*present, "member.absent", present[0], "member.absent-too"]

    assert store.pipe.batched  # the suite's nats-server reads many keys in one request
    together = await store.pipe.get_many(keys)

    alone = [(await store.pipe.get_many([key]))[0] for key in keys]
    assert together == alone
    assert together[3][0] is None  # deleted: no value, its revision kept
    assert together[3][1] > 0
    assert together[-3] == (None, 0)
    assert together[0][0] == schemas.encode(MemberRecord(incident=present[0], role="root"))


async def test_values_beyond_one_batched_answer_are_all_read(store: IncidentStore) -> None:
    # A storm's exemplars can weigh tens of KiB each: one batched answer stops at BATCH_READ_BYTES and
    # says how many it kept back; those are asked for again until every key is read.
    keys = [f"exemplar.inc-{i}.0" for i in range(30)]
    values = [key.encode() * (BATCH_READ_BYTES // 8 // len(key)) for key in keys]  # ~4 answers' worth
    await _put_all(store, list(zip(keys, values, strict=True)))

    read = await store.pipe.get_many([*keys, "exemplar.absent.0"])

    assert [value for value, _ in read] == [*values, None]
    assert store.pipe.batched  # a batch cut short is no reason to stop batching


async def test_batches_arriving_while_one_is_placed_are_placed_together_counting_each_alert_once(
    store: IncidentStore, journal: Journal, js: JetStreamContext
) -> None:
    incidents = Incidents(journal, store, Correlator(SETTINGS), SETTINGS)
    batches = [distinct(300)[i : i + 60] for i in range(0, 300, 60)]
    # The second batch is delivered again while the first ones are being placed (a redelivery).
    await asyncio.gather(*(incidents.prepare(batch) for batch in [*batches, batches[1]]))

    placed = {message.id: incidents.take(message) for batch in batches for message in batch}
    assert all(p.ref is not None and not p.degraded for p in placed.values())
    ids = {p.ref.id for p in placed.values() if p.ref is not None}
    assert len(ids) == 300  # unrelated alerts: an incident each
    states = [journal.state(i) for i in ids]
    assert all(state is not None and state.member_count == 1 for state in states)
    # The first batch in its turn, the ones that waited for it together: two entries, and their
    # reviews in two messages.
    assert (await js.stream_info(journal.stream)).state.messages == 2
    messages = await read_subject(js, schemas.REVIEW, schemas.IncidentReviews, count=2)
    reviewed = [review.id for message in messages for review in message.reviews]
    assert sorted(reviewed) == sorted(ids)  # one for each new incident


async def test_a_review_not_due_yet_waits_for_its_time_without_a_warning(
    nats_server: NatsServer, js: JetStreamContext
) -> None:
    settings = incident_settings(nats_server.url)
    warnings: list[str] = []
    sink = logger.add(lambda message: warnings.append(message.record["message"]), level="WARNING")
    try:
        async with running_stage(SPEC, settings):
            await publish(js, node_storm(3))
            (opened,) = await read_subject(
                js, schemas.INCIDENT_OPENED, schemas.IncidentEvent, count=1, timeout=20
            )
    finally:
        logger.remove(sink)

    assert opened.incident.member_count == 4
    # Its review came at once and was held until the grouping wait was over: planned, no failure.
    assert warnings == []
