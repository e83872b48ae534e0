"""The pure parts of placing a batch: against a shard's view, into one log entry, and the index's size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest
from nats.aio.client import ServerVersion

import schemas
from services.analyst._incidents import first_sequences, review_messages
from services.analyst._placement import Outcome, place
from services.incidents import (
    Correlator,
    IncidentSettings,
    IncidentState,
    IndexEntry,
    LogEntry,
    OpenIndex,
    ShardView,
)
from services.incidents._store import IndexEncoder, MemberRecord, batched_reads, bounded
from services.incidents._views import RESOLVED_UNPLACED_KEPT, bounded_on, encoded_state, touches
from tests.unit.incidents._alerts import T0, enriched

SETTINGS = IncidentSettings()
CORRELATOR = Correlator(SETTINGS)


def _resolved(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    alert = message.alert
    labels = {k: v for k, v in alert.labels.items() if k != "alertname"}
    at = (alert.starts_at - T0).total_seconds()
    return enriched(alert.labels["alertname"], at=at, status="resolved", labels=labels)


def _view() -> ShardView:
    return ShardView("_", timedelta(seconds=SETTINGS.incident_reopen_seconds))


def _placed(
    view: ShardView,
    batch: list[schemas.EnrichedAlert],
    at: float = 10.0,
    sequences: dict[str, int] | None = None,
) -> tuple[LogEntry | None, Outcome]:
    """The batch placed on ``view`` and, as the journal writes it (bounded on the view), applied."""
    entry, outcome = place(view, batch, T0 + timedelta(seconds=at), CORRELATOR, SETTINGS, sequences)
    if entry is not None:
        entry = bounded_on(entry, view)
        view.apply(entry, view.seq + 1)
    return entry, outcome


def _storm() -> list[schemas.EnrichedAlert]:
    pods = [enriched("KubePodNotReady", at=5, pod=f"web-{n}", node="n1", namespace="shop") for n in range(3)]
    return [*pods, enriched("KubeNodeNotReady", at=0, node="n1")]


def test_a_storm_in_one_batch_is_one_incident_whose_root_is_the_cause_and_one_entry_says_it_all() -> None:
    view = _view()
    storm = _storm()
    entry, outcome = _placed(view, storm)
    assert entry is not None
    incidents = {record.incident for record in entry.members.values()}
    assert len(incidents) == 1
    (raw,) = entry.states
    state = schemas.decode(raw, IncidentState)
    assert state.member_count == state.firing_count == 4
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"
    assert [review.kind for review in outcome.reviews] == ["analyse"]
    assert outcome.exemplars[0][:2] == (state.id, 0)
    assert outcome.exemplars[0][2].alert.labels["alertname"] == "KubeNodeNotReady"
    # Another replica applying the entry holds the same view as the writer.
    other = _view()
    other.apply(schemas.decode(schemas.encode(entry), LogEntry), 1)
    assert other.members == view.members
    assert other.states == view.states
    assert other.index == view.index


def test_alerts_placed_before_change_nothing_and_are_counted_once() -> None:
    view = _view()
    storm = _storm()
    _placed(view, storm)
    (state,) = view.states.values()
    entry, outcome = _placed(view, storm, at=11)
    assert entry is None
    assert view.states[state.id].member_count == 4
    # Its change not announced yet, the re-sent batch asks again for the review and the exemplars
    # (a crash may have come between the entry and them).
    assert [review.id for review in outcome.reviews] == [state.id]
    assert {slot for _, slot, _ in outcome.exemplars} == {0, 1}
    assert {record.incident for record in outcome.records.values()} == {state.id}


def _resent(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    """The same alert (same id), enriched again: another message of the stream, with other evidence."""
    return msgspec.structs.replace(message, enriched_at=message.enriched_at + timedelta(seconds=1))


def test_an_incident_names_the_message_it_placed_where_the_stream_keeps_it_and_no_resend() -> None:
    view = _view()
    storm = _storm()
    down = storm[-1]
    # The original and a re-send of the root in one batch: the first is placed, and named.
    delivered = [(message, 10 + n) for n, message in enumerate(storm)] + [(_resent(down), 99)]
    sequences = first_sequences(delivered)
    assert sequences[down.id] == 13
    _placed(view, [message for message, _ in delivered], sequences=sequences)
    (state,) = view.states.values()
    root, pod = state.exemplars  # the node's, and one pod's (the root before it)
    assert root.sequence == 13
    assert pod.alertname == "KubePodNotReady"
    assert pod.sequence == next(seq for m, seq in delivered if schemas.episode_key(m.alert) == pod.episode)
    # A re-send later asks for the review again, but is not taken for the exemplar it is not.
    _, outcome = _placed(view, [_resent(down)], at=11, sequences={down.id: 120})
    assert [review.id for review in outcome.reviews] == [state.id]
    assert outcome.exemplars == []
    # Redelivered (the very message, a crash between its entry and its review): it is.
    _, outcome = _placed(view, [down], at=12, sequences={down.id: 13})
    assert [(slot, message.id) for _, slot, message in outcome.exemplars] == [(0, down.id)]


def test_a_replay_is_never_where_an_alert_is_said_to_be_kept() -> None:
    (down,) = _storm()[-1:]
    replay = msgspec.structs.replace(down, replay=schemas.Replay(id="r1", requested_at=T0))
    assert first_sequences([(replay, 7), (down, 8)]) == {down.id: 8}


def test_a_resolution_counts_once() -> None:
    view = _view()
    storm = _storm()
    _placed(view, storm)
    (state,) = view.states.values()
    gone = _resolved(storm[0])
    entry, _ = _placed(view, [gone, gone], at=20)
    assert entry is not None
    assert view.states[state.id].firing_count == 3
    assert view.members[schemas.episode_key(gone.alert)].resolved
    again, _ = _placed(view, [gone], at=21)
    assert again is None
    assert view.states[state.id].firing_count == 3


def test_an_alert_firing_and_resolved_in_one_batch_is_counted_and_resolved() -> None:
    view = _view()
    storm = _storm()
    _placed(view, [*storm, _resolved(storm[1])])
    (state,) = view.states.values()
    assert (state.member_count, state.firing_count) == (4, 3)


def test_a_resolution_of_an_alert_never_placed_keeps_its_firing_alert_from_being_placed_after_it() -> None:
    """Its firing alert was in flight on another replica, or on one killed before its entry: the
    resolution goes on alone, and the firing alert, when it comes back, is not counted after its end."""
    view = _view()
    firing = enriched("DiskFull", instance="db-1:9100")
    entry, outcome = _placed(view, [_resolved(firing)], at=20)
    assert entry is not None  # written only if the view was the latest: nobody had placed it
    assert outcome.records[schemas.episode_key(firing.alert)].incident == ""
    late, outcome = _placed(view, [firing], at=40)
    assert late is None
    assert view.states == {}
    assert outcome.records[schemas.episode_key(firing.alert)].incident == ""
    # Remembered for an hour (longer than any redelivery), then forgotten.
    hour = 20 + RESOLVED_UNPLACED_KEPT.total_seconds()
    view.apply(LogEntry(at=T0 + timedelta(seconds=hour - 60)), view.seq + 1)
    assert schemas.episode_key(firing.alert) in view.members
    view.apply(LogEntry(at=T0 + timedelta(seconds=hour + 61)), view.seq + 1)
    assert view.members == {}


def test_a_view_forgets_incidents_resolved_longer_than_the_reopen_window_with_their_members() -> None:
    view = _view()
    storm = _storm()
    _placed(view, storm)
    (state,) = view.states.values()
    resolved = msgspec.structs.replace(state, status="resolved", resolved_at=T0 + timedelta(seconds=30))
    view.apply(LogEntry(at=T0 + timedelta(seconds=30), states=[encoded_state(resolved)]), view.seq + 1)
    quiet = T0 + timedelta(seconds=30 + SETTINGS.incident_reopen_seconds - 60)
    view.apply(LogEntry(at=quiet), view.seq + 1)
    assert state.id in view.states
    later = T0 + timedelta(seconds=31 + SETTINGS.incident_reopen_seconds)
    view.apply(LogEntry(at=later), view.seq + 1)
    assert state.id not in view.states
    assert view.members == {}
    # Its index entry too: an alert matching it would otherwise join an incident whose state is gone.
    assert all(entry.id != state.id for entry in view.index.entries)


def test_an_entry_is_applied_once() -> None:
    view = _view()
    entry, _ = place(view, _storm(), T0, CORRELATOR, SETTINGS)
    assert entry is not None
    view.apply(entry, 5)
    before = (dict(view.members), dict(view.states), view.index)
    # The same sequence again, with a membership that would show were it applied.
    again = {"another-episode": MemberRecord(incident="inc-elsewhere", role="root")}
    view.apply(msgspec.structs.replace(entry, members=again, states=[]), 5)
    assert (view.members, dict(view.states), view.index) == before
    assert view.seq == 5


def test_an_index_too_big_for_one_value_keeps_the_grown_and_the_recent_incidents() -> None:
    entries = _index_entries(5000, lambda n: [f"instance=node-{n}", "job=node-exporter"], grown=3)
    kept = bounded(OpenIndex(entries=entries), limit=64 * 1024)
    ids = {entry.id for entry in kept.entries}
    assert len(schemas.encode(kept)) <= 64 * 1024
    assert "inc-000000000003" in ids  # an incident that grew is kept however quiet
    assert "inc-000000004999" in ids  # the most recent one-alert incidents are kept
    assert "inc-000000000010" not in ids
    small = OpenIndex(entries=entries[:10])
    assert bounded(small) is small


def test_storms_that_start_together_past_the_bound_forget_the_oldest_not_the_one_just_opened() -> None:
    """A zone's nodes go NotReady in one rule evaluation: their storms' incidents grew alike and were
    last seen alike. Past the bound the oldest is forgotten; the newest, which its storm's next batch
    joins, stays."""
    storms = [
        IndexEntry(
            id=f"inc-node-{n:02d}",
            opened_at=T0,
            last_at=T0,
            member_count=50,
            entities=[f"node=ip-10-0-{n}-7", *(f"pod=shop/ip-10-0-{n}-7-web-{k}" for k in range(50))],
        )
        for n in range(30)
    ]
    index = OpenIndex(entries=storms)
    kept = {entry.id for entry in bounded(index, limit=len(schemas.encode(index)) * 2 // 3).entries}
    assert "inc-node-29" in kept
    assert "inc-node-00" not in kept


def test_an_index_is_measured_as_its_encoding_batch_after_batch() -> None:
    """The store keeps each entry's bytes from one bound to the next (a batch changes few of the
    hundreds): the size it bounds must still be the index's encoding, byte for byte."""
    entries = _index_entries(600, lambda n: [f"instance=node-{n}", "job=node-exporter"])
    encoder = IndexEncoder()
    first = OpenIndex(entries=entries)
    assert encoder.bounded(first, limit=len(schemas.encode(first))) is first
    grown = msgspec.structs.replace(entries[7], member_count=2, entities=[*entries[7].entities, "pod=a"])
    later = OpenIndex(entries=[*entries[:7], grown, *entries[8:], entries[0]])  # the same one twice too
    size = len(schemas.encode(later))
    assert encoder.bounded(later, limit=size) is later  # at its size exactly: kept whole
    trimmed = encoder.bounded(later, limit=size - 1)
    assert len(schemas.encode(trimmed)) <= size - 1
    small = encoder.bounded(later, limit=16 * 1024)
    assert len(schemas.encode(small)) <= 16 * 1024
    assert small == bounded(later, limit=16 * 1024)  # as a fresh encoder bounds it
    assert grown in small.entries


def test_an_index_bounded_with_a_few_large_entries_is_within_the_bound() -> None:
    """Incidents that grew are kept first, and they are the large entries: what is kept is counted
    by its own bytes, so the index written never exceeds the bound, and an entry after it that
    changes no index entry leaves it within the bound."""
    small = _index_entries(60, lambda n: [f"instance=node-{n}", *(f"line=error-{n}-{k}" for k in range(12))])
    large = IndexEntry(
        id="inc-storm",
        opened_at=T0,
        last_at=T0 + timedelta(seconds=100),
        member_count=50,
        entities=[f"pod=shop/cart-{k}-with-a-long-name" for k in range(200)],
    )
    index = OpenIndex(entries=[*small, large])
    limit = len(schemas.encode(index)) * 2 // 3
    kept = bounded(index, limit=limit)
    assert len(schemas.encode(kept)) <= limit
    assert large in kept.entries  # the incident that grew is kept however large


def _index_entries(count: int, names: Callable[[int], list[str]], grown: int = -1) -> list[IndexEntry]:
    """One-alert incidents' index entries, the n-th last seen n seconds after T0 and named ``names(n)``;
    the one at ``grown`` has 40 members."""
    return [
        IndexEntry(
            id=f"inc-{n:012d}",
            opened_at=T0,
            last_at=T0 + timedelta(seconds=n),
            entities=names(n),
            member_count=40 if n == grown else 1,
        )
        for n in range(count)
    ]


def test_many_keys_are_read_in_one_request_only_from_servers_that_answer_it() -> None:
    # nats-server 2.11 brought batched direct reads; an older or unknown server is read key by key.
    assert batched_reads(ServerVersion("2.11.0"))
    assert batched_reads(ServerVersion("2.15.1"))
    assert batched_reads(ServerVersion("3.0.0"))
    assert not batched_reads(ServerVersion("2.10.29"))
    assert not batched_reads(ServerVersion("0.0.0-unknown"))


def _replayed(entries: list[LogEntry]) -> ShardView:
    """A view that applied ``entries``, as a replica reading the log does."""
    view = _view()
    for seq, entry in enumerate(entries, 1):
        view.apply(entry, seq)
    return view


def _two_replicas(
    history: list[schemas.EnrichedAlert],
    first: list[schemas.EnrichedAlert],
    second: list[schemas.EnrichedAlert],
) -> tuple[bool, ShardView, ShardView]:
    """``first`` and ``second`` placed by two replicas on the same view (after ``history``), each
    by its own clock; the first written first. Whether the second's placement stands on the newer
    view, the view with it standing there (bounded there, as the journal writes it), and the view
    with it placed again there."""
    start: list[LogEntry] = []
    if history:
        made, _ = place(_view(), history, T0, CORRELATOR, SETTINGS)
        assert made is not None
        start.append(bounded_on(made, _view()))
    won, _ = place(_replayed(start), first, T0 + timedelta(seconds=30), CORRELATOR, SETTINGS)
    later = T0 + timedelta(seconds=31)  # the other replica's clock, when it placed its batch
    lost, outcome = place(_replayed(start), second, later, CORRELATOR, SETTINGS)
    assert won is not None
    assert lost is not None
    assert outcome.reads is not None
    won = bounded_on(won, _replayed(start))
    stands = not touches(won, outcome.reads, _replayed(start).index)
    newer = _replayed([*start, won])
    on_top = _replayed([*start, won, bounded_on(lost, newer)])
    again, _ = place(newer, second, later, CORRELATOR, SETTINGS)
    assert again is not None
    recomputed = _replayed([*start, won, bounded_on(again, newer)])
    return stands, on_top, recomputed


def _node(node: str, pods: int, namespace: str = "shop") -> list[schemas.EnrichedAlert]:
    down = enriched("KubeNodeNotReady", at=20, node=node, cluster="prod")
    return [down] + [
        enriched(
            "KubePodNotReady", at=21, pod=f"{node}-web-{n}", node=node, namespace=namespace, cluster="prod"
        )
        for n in range(pods)
    ]


def _hosts(first: int, count: int) -> list[schemas.EnrichedAlert]:
    return [
        enriched("HighCPUUsage", at=20, instance=f"node-{n}:9100", job="node-exporter", cluster="prod")
        for n in range(first, first + count)
    ]


@pytest.mark.parametrize(
    ("history", "first", "second", "stands"),
    [
        ([], _hosts(0, 30), _hosts(30, 30), True),  # unrelated alerts: the flood case
        (_hosts(0, 200), _hosts(200, 40), _hosts(240, 40), True),  # with an index to match against
        ([], _node("n1", 5, "a"), _hosts(0, 10), True),  # an outage and alerts sharing nothing with it
        ([], _node("n1", 5, "a"), _node("n2", 5, "b"), False),  # two nodes down: looked at, placed again
        ([], _node("n1", 5), _node("n2", 5), False),  # sharing a namespace: looked at, placed again
        ([], _node("n1", 5)[:3], _node("n1", 5)[3:], False),  # one outage over two replicas
        (_hosts(0, 1000), _hosts(1000, 20), _hosts(1020, 80), True),  # an index at its bound
        (_node("n1", 3), _hosts(5, 5), [*_node("n1", 3), *_hosts(0, 5)], True),  # a storm re-sent
        (_node("n1", 3), [_resolved(m) for m in _node("n1", 3)], _node("n1", 6)[4:], False),
    ],
)
def test_a_placement_that_lost_a_race_stands_on_the_newer_view_only_as_it_would_be_placed_there(
    history: list[schemas.EnrichedAlert],
    first: list[schemas.EnrichedAlert],
    second: list[schemas.EnrichedAlert],
    stands: bool,
) -> None:
    """A replica whose entry lost the race to another's keeps it, rebased, only when the winner
    touched nothing it read; then it is exactly what placing it again on the newer view gives."""
    untouched, on_top, recomputed = _two_replicas(history, first, second)
    assert untouched == stands
    if untouched:
        assert on_top.members == recomputed.members
        assert on_top.states == recomputed.states
        assert on_top.index == recomputed.index


def _review(incident: str, due: float) -> schemas.IncidentReview:
    return schemas.IncidentReview(
        id=incident, kind="analyse", generation=1, due=T0 + timedelta(seconds=due), requested_at=T0
    )


def test_a_batchs_reviews_go_in_one_message_per_second_they_fall_due_or_one_each_with_an_llm() -> None:
    reviews = [_review("inc-a", 5.1), _review("inc-b", 5.4), _review("inc-c", 35.0)]

    together = review_messages(reviews)
    assert [len(schemas.decode(payload, schemas.IncidentReviews).reviews) for _, payload, _ in together] == [
        2,
        1,
    ]
    # Asked for again (a redelivery, another replica), the same reviews are the same messages.
    assert [msg_id for *_, msg_id in review_messages(list(reversed(reviews[:2])))] == [together[0][2]]

    alone = review_messages(reviews, together=False)
    assert [len(schemas.decode(payload, schemas.IncidentReviews).reviews) for _, payload, _ in alone] == [
        1,
        1,
        1,
    ]
    assert len({msg_id for *_, msg_id in alone}) == 3
