"""The pure parts of placing a batch: which members are counted, which resolved, and the index's size."""

from __future__ import annotations

from datetime import timedelta

import msgspec
from nats.aio.client import ServerVersion

import schemas
from services.analyst._placement import marked, member_of, sort_out
from services.incidents import IndexEntry, Joining, MemberRecord, OpenIndex, join
from services.incidents._store import IndexEncoder, batched_reads, bounded
from tests.unit.incidents._alerts import T0, enriched


def _resolved(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    alert = message.alert
    labels = {k: v for k, v in alert.labels.items() if k != "alertname"}
    return enriched(alert.labels["alertname"], status="resolved", **labels)


def test_members_are_counted_once_in_the_order_the_correlator_placed_them() -> None:
    pod = enriched("KubePodNotReady", at=5, pod="web-1", node="n1")
    node = enriched("KubeNodeNotReady", at=0, node="n1")
    records: dict[str, MemberRecord | None] = {
        schemas.episode_key(pod.alert): MemberRecord(incident="inc-1", role="root"),
        schemas.episode_key(node.alert): MemberRecord(incident="inc-1", role="root"),
    }
    joins, resolves = sort_out([pod, node, pod], records, {}, lambda alert: alert.starts_at, {})
    assert [message.id for message, _ in joins["inc-1"]] == [node.id, pod.id]
    assert resolves == {}


def test_counted_members_are_not_joined_again_and_only_counted_ones_resolve() -> None:
    counted = enriched("KubePodNotReady", pod="web-1", node="n1")
    never = enriched("KubePodNotReady", pod="web-2", node="n1")
    records: dict[str, MemberRecord | None] = {
        schemas.episode_key(counted.alert): MemberRecord(incident="inc-1", role="caused", counted=True),
        schemas.episode_key(never.alert): MemberRecord(incident="inc-1", role="caused"),
    }
    gone = [_resolved(counted), _resolved(never)]
    joins, resolves = sort_out([counted, *gone], records, {}, lambda alert: alert.starts_at, {})
    assert joins == {}
    assert [message.id for message in resolves["inc-1"]] == [gone[0].id]
    after = marked(records, joins, resolves)
    assert after == {
        schemas.episode_key(counted.alert): MemberRecord(
            incident="inc-1", role="caused", counted=True, resolved=True
        )
    }


def test_a_new_member_is_marked_counted_with_the_role_the_correlator_gave() -> None:
    pod = enriched("KubePodNotReady", pod="web-1", node="n1")
    episode = schemas.episode_key(pod.alert)
    records: dict[str, MemberRecord | None] = {episode: MemberRecord(incident="inc-1", role="caused")}
    joining = Joining(episode, "inc-1", "caused", ("node", "time"))
    joins, _ = sort_out([pod], records, {episode: joining}, lambda alert: alert.starts_at, {})
    assert joins["inc-1"] == [(pod, joining)]
    assert marked(records, joins, {})[episode].counted


def test_an_index_too_big_for_one_value_keeps_the_grown_and_the_recent_incidents() -> None:
    entries = [
        IndexEntry(
            id=f"inc-{n:012d}",
            opened_at=T0,
            last_at=T0 + timedelta(seconds=n),
            entities=[f"instance=node-{n}", "job=node-exporter"],
            member_count=40 if n == 3 else 1,
        )
        for n in range(5000)
    ]
    kept = bounded(OpenIndex(entries=entries), limit=64 * 1024)
    ids = {entry.id for entry in kept.entries}
    assert len(schemas.encode(kept)) <= 64 * 1024
    assert "inc-000000000003" in ids  # an incident that grew is kept however quiet
    assert "inc-000000004999" in ids  # the most recent one-alert incidents are kept
    assert "inc-000000000010" not in ids
    small = OpenIndex(entries=entries[:10])
    assert bounded(small) is small


def test_an_index_written_batch_after_batch_is_the_bytes_its_encoding_gives() -> None:
    """The store keeps each entry's bytes from one write to the next (a batch changes few of the
    hundreds): what it writes must still be the index, over the bound as under it."""
    entries = [
        IndexEntry(
            id=f"inc-{n:012d}",
            opened_at=T0,
            last_at=T0 + timedelta(seconds=n),
            member_count=1,
            entities=[f"instance=node-{n}", "job=node-exporter"],
        )
        for n in range(600)
    ]
    encoder = IndexEncoder()
    first, written = encoder.bounded(OpenIndex(entries=entries), limit=1 << 20)
    assert written == schemas.encode(first)
    assert first.entries == entries
    grown = msgspec.structs.replace(entries[7], member_count=2, entities=[*entries[7].entities, "pod=a"])
    later = OpenIndex(entries=[*entries[:7], grown, *entries[8:], entries[0]])  # the same one twice too
    again, written = encoder.bounded(later, limit=1 << 20)
    assert again is later
    assert schemas.decode(written, OpenIndex) == later
    assert written == schemas.encode(later)
    small, written = encoder.bounded(later, limit=16 * 1024)
    assert written == schemas.encode(small)
    assert len(written) <= 16 * 1024
    assert small == bounded(later, limit=16 * 1024)
    assert grown in small.entries


def _opener_then_its_root() -> tuple[
    schemas.EnrichedAlert, schemas.EnrichedAlert, dict[str, MemberRecord | None], dict[str, OpenIndex]
]:
    """A pod alert that opened inc-1 and the node alert that became its root; both records say "root"
    (the opener's from when it opened the incident, the node's since), the index names the node."""
    opener = enriched("KubePodNotReady", pod="web-1", node="n1")
    node = enriched("KubeNodeNotReady", at=5, node="n1")
    episodes = [schemas.episode_key(opener.alert), schemas.episode_key(node.alert)]
    records: dict[str, MemberRecord | None] = {
        episode: MemberRecord(incident="inc-1", role="root", shard="prod") for episode in episodes
    }
    entry = IndexEntry(id="inc-1", opened_at=T0, last_at=T0, root_alert=episodes[1])
    return opener, node, records, {"prod": OpenIndex(entries=[entry])}


def test_a_rejoined_root_member_takes_the_root_only_while_the_index_names_it_the_root() -> None:
    opener, node, records, indexes = _opener_then_its_root()
    joins, _ = sort_out([opener, node], records, {}, lambda alert: alert.starts_at, indexes)
    assert [joining.new_root for _, joining in joins["inc-1"]] == [False, True]
    # An index that no longer has the incident names no root: nobody takes it by its record alone.
    joins, _ = sort_out([opener, node], records, {}, lambda alert: alert.starts_at, {})
    assert [joining.new_root for _, joining in joins["inc-1"]] == [False, False]


def test_a_redelivered_opener_counted_after_its_root_is_listed_as_caused_not_as_a_second_root() -> None:
    opener, node, records, indexes = _opener_then_its_root()
    joins, _ = sort_out([node, opener], records, {}, lambda alert: alert.starts_at, indexes)
    state = None
    for message, joining in sorted(joins["inc-1"], key=lambda pair: pair[1].new_root, reverse=True):
        state = join(state, member_of(message), joining, T0 + timedelta(seconds=5), shard="prod")
    assert state is not None
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"
    assert [(m.alertname, m.role) for m in state.members] == [
        ("KubeNodeNotReady", "root"),
        ("KubePodNotReady", "caused"),
    ]


def test_many_keys_are_read_in_one_request_only_from_servers_that_answer_it() -> None:
    # nats-server 2.11 brought batched direct reads; an older or unknown server is read key by key.
    assert batched_reads(ServerVersion("2.11.0"))
    assert batched_reads(ServerVersion("2.15.1"))
    assert batched_reads(ServerVersion("3.0.0"))
    assert not batched_reads(ServerVersion("2.10.29"))
    assert not batched_reads(ServerVersion("0.0.0-unknown"))
