"""The Query API against both backends: what a person filtering, searching and paging would see."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

import schemas
from services.history import AlertQuery, History, IncidentQuery, as_the_history_knows
from services.history._db import Searchable, connect
from services.history._filters import alert_where
from services.history._migrations import migrations
from services.history._queries import ALERT_IDS_STARTING, ALERT_SELECT
from services.history._sqlite_search import in_sqlite
from services.history._write import ALERT_UPSERT, MARK_ENDED, alert_row
from tests.support.history import T0, analyzed, incident_event, pods_storm, queries_asked, verdict


async def ids(history: History, **filters: object) -> list[str]:
    page = await history.alerts(AlertQuery(**filters))  # type: ignore[arg-type]
    return [row.id for row in page.items]


async def test_migrations_apply_once_even_when_processes_start_together(database_url: str) -> None:
    opened = await asyncio.gather(*(History.open(database_url) for _ in range(3)))
    again = await History.open(database_url)
    try:
        rows = await again.db.fetch("SELECT version FROM schema_migrations")
        assert sorted(row[0] for row in rows) == [m.version for m in migrations(again.db.dialect)]
        await again.write([analyzed(1)])
        assert await ids(opened[0]) == ["a0000001"]
    finally:
        for history in (*opened, again):
            await history.close()


async def test_a_replayed_alert_is_stored_once_with_its_latest_analysis(history: History) -> None:
    first = analyzed(1, summary="first look")
    replayed = analyzed(1, summary="second look", at=first.received_at)
    await history.write([first])
    await history.write([first, replayed])  # a redelivery, then a re-analysis of the same alert
    page = await history.alerts(AlertQuery())
    assert [row.summary for row in page.items] == ["second look"]


async def test_an_incident_holds_its_latest_event_whatever_order_they_arrive_in(history: History) -> None:
    await history.write(incidents=[incident_event(sequence=1), incident_event(sequence=3)])
    await history.write(incidents=[incident_event(sequence=2), incident_event(sequence=1)])
    page = await history.incidents(IncidentQuery())
    assert [(row.id, row.sequence) for row in page.items] == [("inc-1", 3)]
    event = await history.incident("inc-1")
    assert event is not None
    assert (event.sequence, event.incident.member_count) == (3, 3)


async def test_a_later_verdict_replaces_an_earlier_one_and_not_the_reverse(history: History) -> None:
    await history.write([analyzed(1)])
    later = verdict("a0000001", verdict="corrected", corrected="memory_pressure", at=T0 + timedelta(hours=2))
    earlier = verdict("a0000001", at=T0 + timedelta(hours=1))
    await history.write(feedback=[later])
    await history.write(feedback=[earlier])  # replayed late
    stored = await history.feedback_for("a0000001")
    assert stored is not None
    assert (stored.verdict, stored.corrected_category) == ("corrected", "memory_pressure")
    assert [row.feedback for row in (await history.alerts(AlertQuery())).items] == ["corrected"]
    assert await history.feedback_for("nothing") is None


async def test_each_filter_narrows_the_list(history: History) -> None:
    await history.write(
        [
            analyzed(1, labels={"severity": "critical"}),
            analyzed(2, category="disk_capacity", labels={"service": "payments"}),
            analyzed(3, labels={"namespace": "infra"}, analyzer="llm"),
            analyzed(4, status="resolved", degraded=True),
            analyzed(5, incident_id="inc-9"),
        ]
    )
    assert await ids(history, severity="critical") == ["a0000001"]
    assert await ids(history, category="disk_capacity") == ["a0000002"]
    assert await ids(history, service="payments") == ["a0000002"]
    assert await ids(history, namespace="infra") == ["a0000003"]
    assert await ids(history, analyzer="llm") == ["a0000003"]
    assert await ids(history, status="resolved") == ["r0000004"]
    assert await ids(history, degraded=True) == ["r0000004"]
    assert await ids(history, incident_id="inc-9") == ["a0000005"]
    assert await ids(history, since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)) == [
        "a0000003",
        "a0000002",
    ]
    assert await ids(history, severity="warning", status="firing") == ["a0000005", "a0000003", "a0000002"]


async def test_search_matches_whole_words_in_name_labels_and_analysis(history: History) -> None:
    await history.write(
        [
            analyzed(1, alertname="DiskFull", labels={"pod": "db-0"}, summary="volume data almost full"),
            analyzed(2, alertname="HighCPU", summary="checkout CPU at 97%"),
        ]
    )
    assert await ids(history, text="DiskFull") == ["a0000001"]
    assert await ids(history, text="volume full") == ["a0000001"]  # every word, in any order
    assert await ids(history, text="cpu") == ["a0000002"]
    assert await ids(history, text="checko") == []  # part of a word is not a word
    assert await ids(history, text="volume cpu") == []


async def test_search_finds_an_alert_by_its_latest_analysis_only(history: History) -> None:
    first = analyzed(1, summary="disk volume filling")
    await history.write([first, analyzed(2, summary="disk latency")])
    # A re-analysis of alert 1 beside a new alert, then a late redelivery of the first analysis.
    relook = msgspec.structs.replace(
        analyzed(1, summary="memory leak"), analyzed_at=first.analyzed_at + timedelta(minutes=1)
    )
    await history.write([analyzed(3, summary="disk errors"), relook])
    await history.write([first])
    assert await ids(history, text="leak") == ["a0000001"]
    assert await ids(history, text="volume") == []
    assert await ids(history, text="disk") == ["a0000003", "a0000002"]
    incident = incident_event(sequence=1, title="checkout degraded")
    await history.write(incidents=[incident])
    await history.write(incidents=[incident_event(sequence=2, title="payments degraded"), incident])
    searched = await history.incidents(IncidentQuery(text="checkout"))
    assert [row.title for row in searched.items] == []
    searched = await history.incidents(IncidentQuery(text="payments"))
    assert [row.title for row in searched.items] == ["payments degraded"]


@pytest.mark.parametrize(
    "text", ["'; DROP TABLE alerts; --", 'NEAR("a" "b")', "cpu OR 1=1", '"', "*", "%", "?", "a:b", "-x", "()"]
)
async def test_search_text_is_data_never_syntax(history: History, text: str) -> None:
    await history.write([analyzed(1)])
    assert await ids(history, text=text) == []
    assert await ids(history) == ["a0000001"]  # the table is still there and whole


async def test_pages_walk_the_whole_list_newest_first_without_gaps_or_repeats(history: History) -> None:
    # Pairs share a receive time: the cursor must still tell them apart.
    await history.write([analyzed(n, at=T0 + timedelta(seconds=n // 2)) for n in range(120)])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await history.alerts(AlertQuery(limit=50, before=cursor))
        seen += [row.id for row in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert (pages, len(seen), len(set(seen))) == (3, 120, 120)
    assert seen == sorted(seen, reverse=True)


async def test_a_cursor_it_did_not_hand_out_is_refused(history: History) -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        await history.alerts(AlertQuery(before="'; DROP TABLE alerts"))


async def test_a_ten_megabyte_annotation_is_stored_clipped_with_a_marker(history: History) -> None:
    huge = "x" * (10 * 1024 * 1024)
    await history.write([analyzed(1, annotations={"description": huge, "summary": "short"})])
    stored = await history.alert("a0000001")
    assert stored is not None
    description = stored.alert.annotations["description"]
    assert len(description) < 20_000
    assert description.startswith("xxx")
    assert "[clipped:" in description
    assert stored.alert.annotations["summary"] == "short"


async def test_the_whole_message_comes_back_as_it_was_written(history: History) -> None:
    message = analyzed(1, labels={"pod": "checkout-7"}, incident_id="inc-1")
    await history.write([message])
    assert await history.alert("a0000001") == message
    assert await history.alert("missing") is None


async def test_an_incident_lists_its_alerts_in_the_order_they_arrived(history: History) -> None:
    await history.write([analyzed(3, incident_id="inc-1"), analyzed(1, incident_id="inc-1"), analyzed(2)])
    assert [row.id for row in await history.incident_alerts("inc-1")] == ["a0000001", "a0000003"]


def _storm(number: int, pods: int) -> tuple[list[schemas.AnalyzedAlert], schemas.IncidentEvent]:
    """Incident ``inc-<number>``: its firing members, the resolution of its first one (since its last
    event), and that event."""
    incident_id, started = f"inc-{number}", T0 - timedelta(minutes=30)
    firing = [
        analyzed(
            number * 100 + n,
            alertname="KubePodNotReady",
            labels={"pod": f"{incident_id}-{n}"},
            starts_at=started,
            incident_id=incident_id,
        )
        for n in range(pods)
    ]
    back = analyzed(
        number * 100 + pods,
        alertname="KubePodNotReady",
        labels={"pod": f"{incident_id}-0"},
        status="resolved",
        starts_at=started,
        ends_at=T0 + timedelta(minutes=5),
        incident_id=incident_id,
    )
    return [*firing, back], incident_event(incident_id, 2, members=firing)


async def test_an_incidents_firing_count_in_a_list_is_the_one_its_page_shows(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The analyst does not announce each member resolving: the last event's "3/3 firing" stays after one
    # resolved. A list says what the incident's page says, and reads a page of them in three queries.
    alerts, event = _storm(1, 3)
    await history.write(alerts, incidents=[event])
    row = (await history.incidents(IncidentQuery())).items[0]
    known = await history.members_known([event.incident])
    _, on_its_page = as_the_history_knows(event.incident, known["inc-1"])
    assert (row.firing_count, row.member_count) == (on_its_page, 3) == (2, 3)
    assert (known["inc-1"].alerts, known["inc-1"].ended_count) == (4, 1)

    storms = [_storm(n, 2) for n in range(2, 52)]
    await history.write([a for alerts, _ in storms for a in alerts], incidents=[e for _, e in storms])
    asked = queries_asked(history, monkeypatch)
    page = await history.incidents(IncidentQuery(limit=50))
    assert len(page.items) == 50
    assert {(row.firing_count, row.member_count) for row in page.items} == {(1, 2)}
    assert len(asked) == 3  # the list, its listed members' ends, and every member counted


async def test_incident_filters_and_search(history: History) -> None:
    await history.write(
        incidents=[
            incident_event("inc-1", title="checkout degraded"),
            incident_event("inc-2", status="resolved", title="disk filling", category="disk_capacity"),
        ]
    )
    assert [row.id for row in (await history.incidents(IncidentQuery(status="resolved"))).items] == ["inc-2"]
    assert [row.id for row in (await history.incidents(IncidentQuery(text="checkout"))).items] == ["inc-1"]
    assert [row.id for row in (await history.incidents(IncidentQuery(category="disk_capacity"))).items] == [
        "inc-2"
    ]


async def test_purge_deletes_what_is_older_than_the_retention(history: History) -> None:
    await history.write([analyzed(n, at=T0 + timedelta(days=n)) for n in range(5)])
    deleted = await history.purge(T0 + timedelta(days=3))
    assert deleted == 3
    assert await ids(history) == ["a0000004", "a0000003"]


async def test_labels_with_nul_characters_are_stored_and_searchable(history: History) -> None:
    await history.write([analyzed(1, labels={"pod": "web\x00-1", "service": "pay\x00"})])
    assert [row.service for row in (await history.alerts(AlertQuery())).items] == ["pay\ufffd"]
    stored = await history.alert("a0000001")
    assert stored is not None
    assert stored.alert.labels["pod"] == "web\x00-1"  # the message itself is kept exactly


async def test_a_nul_in_what_is_asked_finds_what_was_stored_with_one(history: History) -> None:
    # A filter or an id from a URL may carry a NUL (%00): neither backend takes one as it is.
    await history.write([analyzed(1, labels={"service": "pay\x00"})])
    assert await ids(history, service="pay\x00") == ["a0000001"]
    assert await ids(history, text="pay\x00") == ["a0000001"]
    assert await ids(history, namespace="shop\x00") == []
    assert await history.alert("a0000001\x00") is None


async def test_one_write_of_thousands_of_rows_stores_each_once(history: History) -> None:
    # Past PostgreSQL's 65,535 parameters in one statement, with repeats of the same alert in the batch.
    messages = [analyzed(n % 4000, at=T0 + timedelta(seconds=n % 4000)) for n in range(4500)]
    await history.write(messages)
    count = await history.db.fetch("SELECT COUNT(*), COUNT(DISTINCT id) FROM alerts")
    assert count == [(4000, 4000)]


async def test_an_alert_is_found_by_the_start_of_its_id(history: History) -> None:
    ids_written = ["582d3e2c46af" + tail for tail in ("00", "01", "ff")] + ["582d3e2c46b0", "582d3e2c46a"]
    await history.write([msgspec.structs.replace(analyzed(n), id=i) for n, i in enumerate(ids_written)])
    assert await history.alert_ids_starting("582d3e2c46af") == [
        "582d3e2c46af00",
        "582d3e2c46af01",
        "582d3e2c46afff",
    ]
    assert await history.alert_ids_starting("582d3e2c46af0") == ["582d3e2c46af00", "582d3e2c46af01"]
    assert await history.alert_ids_starting("582d3e2c46af01") == ["582d3e2c46af01"]
    assert await history.alert_ids_starting("582d3e2c46af", limit=2) == ["582d3e2c46af00", "582d3e2c46af01"]
    assert await history.alert_ids_starting("582d3e2c46ae") == []


async def test_the_start_of_an_id_is_looked_up_in_the_index_not_by_a_scan(history: History) -> None:
    params = ["582d3e2c46af", "582d3e2c46ag", 12, "582d3e2c46af", 10]
    if history.db.dialect == "sqlite":
        plan = " ".join(
            str(row[-1]) for row in await history.db.fetch(f"EXPLAIN QUERY PLAN {ALERT_IDS_STARTING}", params)
        )
        assert "USING COVERING INDEX sqlite_autoindex_alerts_1 (id>? AND id<?)" in plan, plan
    else:
        # On an empty table any plan is cheap: forbid the scan, and a usable index is still chosen.
        await history.db.fetch("SELECT set_config('enable_seqscan', 'off', false)")
        plan = " ".join(
            str(row[0]) for row in await history.db.fetch(f"EXPLAIN {ALERT_IDS_STARTING}", params)
        )
        assert "Index Only Scan using alerts_pkey" in plan, plan
        assert "Seq Scan" not in plan, plan


async def test_a_firing_row_learns_its_resolution_whichever_came_first(history: History) -> None:
    started = T0 - timedelta(minutes=30)
    ended = T0 + timedelta(minutes=5)
    firing = analyzed(1, alertname="NodeGone", starts_at=started)
    resolution = analyzed(9, alertname="NodeGone", status="resolved", starts_at=started, ends_at=ended)
    late_resolution = analyzed(3, alertname="DiskGone", status="resolved", starts_at=started, ends_at=ended)
    late_firing = analyzed(2, alertname="DiskGone", starts_at=started)  # redelivered after its resolution
    await history.write([firing])
    assert await ids(history, still_firing=True) == [firing.id]
    await history.write([resolution, late_resolution])
    await history.write([late_firing])
    rows = {row.id: row for row in (await history.alerts(AlertQuery())).items}
    assert rows[firing.id].ended_at == ended
    assert rows[late_firing.id].ended_at == ended
    assert await ids(history, still_firing=True) == []


async def test_an_upgraded_history_knows_which_of_its_firing_rows_ended(database_url: str) -> None:
    # A history written before firing rows recorded their end: the migration works it out once.
    started = T0 - timedelta(minutes=30)
    ended = T0 + timedelta(minutes=5)
    firing = analyzed(1, alertname="NodeGone", starts_at=started)
    resolution = analyzed(9, alertname="NodeGone", status="resolved", starts_at=started, ends_at=ended)
    other = analyzed(2, alertname="StillBroken")
    db = await connect(database_url)
    try:
        await db.migrate([m for m in migrations(db.dialect) if m.version < 3])
        await db.run(
            [Searchable("alerts", ALERT_UPSERT, [alert_row(m) for m in (firing, resolution, other)])]
        )
    finally:
        await db.close()
    upgraded = await History.open(database_url)
    try:
        rows = {row.id: row for row in (await upgraded.alerts(AlertQuery())).items}
        assert rows[firing.id].ended_at == ended
        assert await ids(upgraded, still_firing=True) == [other.id]
    finally:
        await upgraded.close()


async def test_a_firing_row_knows_its_resolution_and_names_its_incident(history: History) -> None:
    started = T0 - timedelta(minutes=30)
    ended = T0 + timedelta(minutes=5)
    firing = analyzed(1, alertname="NodeGone", starts_at=started, incident_id="inc-n")
    resolution = analyzed(
        9, alertname="NodeGone", status="resolved", starts_at=started, ends_at=ended, incident_id="inc-n"
    )
    other = analyzed(2, alertname="StillBroken")
    await history.write(
        [firing, resolution, other], incidents=[incident_event("inc-n", 1, title="node down")]
    )
    rows = {row.id: row for row in (await history.alerts(AlertQuery())).items}
    assert rows[firing.id].ended_at == ended
    assert rows[firing.id].incident_title == "node down"
    assert rows[other.id].ended_at is None
    assert rows[other.id].incident_title == ""
    assert rows[resolution.id].ended_at is None  # a resolution's own row: its status says it
    # The key the console's live page finds the firing row by when the resolution arrives.
    assert rows[firing.id].episode == rows[resolution.id].episode == schemas.episode_key(firing.alert)
    assert await ids(history, still_firing=True) == [other.id]
    assert sorted(await ids(history, status="firing")) == sorted([firing.id, other.id])  # every firing row


async def test_listing_what_still_fires_reads_only_the_rows_still_firing(tmp_path: Path) -> None:
    # A long history is mostly firing rows whose resolution arrived: the list must not read them all
    # to find the few still firing (a search per row read 500,000 for 7, 0.8 s a page).
    history = await History.open(f"sqlite:///{tmp_path / 'history.db'}")
    try:
        where = alert_where(AlertQuery(still_firing=True), history.db.dialect)
        sql = f"{ALERT_SELECT}{where.sql()} ORDER BY a.received_at DESC, a.id DESC LIMIT ?"
        plan = " | ".join(
            str(row[-1]) for row in await history.db.fetch(f"EXPLAIN QUERY PLAN {sql}", [*where.params, 51])
        )
    finally:
        await history.close()
    assert "alerts_still_firing" in plan, plan


async def test_recording_an_episodes_end_finds_its_firing_row_by_the_index(tmp_path: Path) -> None:
    # Once per batch's episode: a scan of the firing rows there made writing a long history quadratic.
    history = await History.open(f"sqlite:///{tmp_path / 'history.db'}")
    try:
        rows = await history.db.fetch(f"EXPLAIN QUERY PLAN {in_sqlite(MARK_ENDED)}", ["fp", 1])
    finally:
        await history.close()
    plan = " | ".join(str(row[-1]) for row in rows)
    assert "SEARCH a USING INDEX alerts_episode" in plan, plan
    assert "SCAN a" not in plan.replace("SCAN a USING", ""), plan


async def test_an_incident_is_counted_over_all_of_its_alerts_not_the_ones_a_page_lists(
    history: History,
) -> None:
    # An event lists 50 members and a page 1,000 alerts: in a storm the resolutions of the others counted
    # for nothing, and the firing count stayed near the event's.
    pods, back, event = pods_storm("inc-9", 1100, resolved=[1100, *range(200, 600)], resolved_id_from=5000)
    await history.write([*pods, *back], incidents=[event])
    known = (await history.members_known([event.incident]))["inc-9"]
    assert (known.alerts, known.ended_count) == (1501, 401)
    assert set(known.ended) == {pods[-1].id}  # of the listed members, the root alone ended
    members, firing = as_the_history_knows(event.incident, known)
    assert firing == 699
    assert members[0].status == "resolved"
    assert len(await history.incident_alerts("inc-9")) == 1000
    assert (await history.incidents(IncidentQuery())).items[0].firing_count == 699


async def test_the_titles_a_console_starts_with_are_the_open_and_recent_incidents(history: History) -> None:
    await history.write(
        incidents=[
            incident_event("inc-open", 1, title="still open", at=T0 - timedelta(days=30)),
            incident_event("inc-recent", 2, status="resolved", title="ended lately", at=T0),
            incident_event("inc-old", 2, status="resolved", title="long over", at=T0 - timedelta(days=3)),
        ]
    )
    since = T0 - timedelta(days=1)
    assert await history.incident_titles(since, 10) == {
        "inc-open": "still open",
        "inc-recent": "ended lately",
    }
    assert await history.incident_titles(since, 1) == {"inc-recent": "ended lately"}  # the newest first
