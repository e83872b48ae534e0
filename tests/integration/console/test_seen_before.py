"""An alert's page shows similar past alerts with the cause a person confirmed, as text."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import msgspec

import schemas
from services.history import History
from tests.support.console import console_settings, running_console
from tests.support.history import analyzed, incident_event
from tests.support.nats_server import NatsServer

CAUSE = "a leak in the <b>PDF</b> renderer"


async def test_alert_and_incident_pages_recall_the_confirmed_cause_of_a_past_alert(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    labels = {"pod": "checkout-7d9f8b6c4-abcde", "container": "checkout"}
    past = analyzed(1, alertname="KubePodOOMKilled", category="memory_pressure", labels=labels)
    now = analyzed(
        7200,
        alertname="KubePodOOMKilled",
        category="memory_pressure",
        labels={**labels, "pod": "checkout-7d9f8b6c4-fghij"},
        incident_id="inc-7",
    )
    unrelated = analyzed(2, alertname="DiskFull", category="disk_capacity", labels={"device": "sda"})
    confirmed = schemas.Feedback(
        id="f-1",
        target="alert",
        target_id=past.id,
        verdict="corrected",
        category="memory_pressure",
        corrected_category="memory_pressure",
        actual_cause=CAUSE,
        actual_fix="rolled back to 2.3.1",
        author="ada",
        given_at=past.received_at + timedelta(hours=1),
    )
    root = schemas.IncidentMember(
        alert_id=now.id,
        alertname="KubePodOOMKilled",
        status="firing",
        starts_at=now.alert.starts_at,
        role="root",
    )
    event = incident_event("inc-7", 1)
    event = msgspec.structs.replace(event, incident=msgspec.structs.replace(event.incident, root=root))
    await history.write(alerts=[past, now, unrelated], feedback=[confirmed], incidents=[event])

    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        for page in (f"/alerts/{now.id}", "/incidents/inc-7"):
            async with http.get(url + page) as answer:
                assert answer.status == 200, page
                html = await answer.text()
            assert "Seen before" in html, page
            # The person's words, escaped: shown as text, never as markup.
            assert "a leak in the &lt;b&gt;PDF&lt;/b&gt; renderer" in html, page
            assert "<b>PDF</b>" not in html, page


async def test_seen_before_leaves_out_the_alerts_own_incident_and_what_came_after_it(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    # A node storm: every pod of the node in one incident, received within the same second. Its
    # siblings are this outage, not memory of another; a pod seen last week on the node is.
    labels = {"pod": "checkout-7d9f8b6c4-abcde", "node": "ip-10-0-1-7"}
    last_week = analyzed(1, alertname="KubePodNotReady", labels=labels, incident_id="inc-old")
    here = 7 * 24 * 3600
    siblings = [
        analyzed(
            here + n,
            alertname="KubePodNotReady",
            labels={**labels, "pod": f"cart-7d9f8b6c4-{n}bcde"},
            incident_id="inc-storm",
        )
        for n in range(3)
    ]
    later = analyzed(
        here + 600, alertname="KubePodNotReady", labels={**labels, "pod": "ledger-7d9f8b6c4-zzzzz"}
    )
    await history.write(alerts=[last_week, *siblings, later])

    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{url}/api/alerts/{siblings[1].id}/similar") as answer:
            assert answer.status == 200
            recalled = [item["id"] for item in (await answer.json())["similar"]]
        async with http.get(f"{url}/alerts/{siblings[1].id}") as answer:
            html = await answer.text()
    assert recalled == [last_week.id]
    assert "Seen before" in html
    for other in (*siblings, later):
        assert f"/alerts/{other.id}" not in html.split("Seen before", 1)[1].split("</section>", 1)[0]
