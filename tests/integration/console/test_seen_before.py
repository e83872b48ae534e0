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
