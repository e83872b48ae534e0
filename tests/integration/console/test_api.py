"""The JSON API and the live stream, against the running console, a real nats-server and SQLite."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import aiohttp
import msgspec
import nats
import orjson

import schemas
from services.history import History
from tests.support.console import console_settings, running_console, with_evidence
from tests.support.history import T0, analyzed, incident_event, pods_storm
from tests.support.nats_server import NatsServer


async def test_lists_filters_and_details_as_json(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    await history.write(
        alerts=[
            with_evidence(analyzed(1, alertname="DiskFull", category="disk_capacity", incident_id="inc-1")),
            analyzed(2, alertname="HighCPU"),
            analyzed(3, alertname="HighCPU", degraded=True),
        ],
        incidents=[incident_event("inc-1", 1), incident_event("inc-1", 2)],
    )
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/api/alerts") as listing:
            body = await listing.json()
        assert body["history"] is True
        assert [row["id"] for row in body["items"]] == ["a0000003", "a0000002", "a0000001"]
        async with http.get(url + "/api/alerts?category=disk_capacity") as filtered:
            assert [row["id"] for row in (await filtered.json())["items"]] == ["a0000001"]
        async with http.get(url + "/api/alerts?degraded=yes&limit=1") as degraded:
            assert [row["id"] for row in (await degraded.json())["items"]] == ["a0000003"]
        async with http.get(url + "/api/alerts/a0000001") as detail:
            alert = msgspec.convert((await detail.json())["alert"], schemas.AnalyzedAlert, strict=False)
        assert alert.evidence.metrics[0].series[0].points[0][1] == 0.2
        async with http.get(url + "/api/incidents/inc-1") as incident:
            body = await incident.json()
        assert body["event"]["sequence"] == 2  # the latest event
        assert [row["id"] for row in body["alerts"]] == ["a0000001"]
        async with http.get(url + "/api/stats?days=30") as stats:
            assert set(await stats.json()) == {"days", "stats", "noisiest"}
        for missing in ("/api/alerts/nope", "/api/incidents/nope"):
            async with http.get(url + missing) as answer:
                assert answer.status == 404


async def _next_event(stream: aiohttp.ClientResponse) -> tuple[str, dict[str, object]]:
    kind = ""
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: ") and kind:
            return kind, orjson.loads(line[len("data: ") :])


async def test_the_stream_sends_what_is_published_as_it_is_published(
    nats_server: NatsServer, database_url: str
) -> None:
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
        http.get(url + "/api/stream?severity=critical") as stream,
    ):
        assert stream.headers["Content-Type"] == "text/event-stream"
        await stream.content.readline()  # the opening comment: subscribed from here on
        nc = await nats.connect(nats_server.url)
        try:
            # Bad input first: it is skipped, and the stream goes on.
            await nc.publish(schemas.ANALYZED, b"{not json")
            await nc.publish(schemas.INCIDENT_OPENED, b'{"schema": 1}')
            quiet = analyzed(1, at=T0 + timedelta(minutes=1))
            loud = analyzed(2, alertname="Down", labels={"severity": "critical"})
            for message in (quiet, loud):
                await nc.jetstream().publish(schemas.ANALYZED, schemas.encode(message))
            kind, data = await asyncio.wait_for(_next_event(stream), 5)
            assert (kind, data["id"]) == ("alert", "a0000002")  # the warning one was filtered out
            assert data["row"]["alertname"] == "Down"  # type: ignore[index]
            assert str(data["html"]).startswith('<tr data-id="a0000002" ')
        finally:
            await nc.close()


# Each asks the history something it cannot answer as asked: a cursor it did not hand out (or whose
# time no 64-bit integer holds), a time past the calendar's ends once in UTC, a NUL in a search, a count
# in digits int() refuses.
BAD_INPUTS = (
    "before=garbage",
    "before=%C2%B2~a0000001",
    "before=99999999999999999999~a0000001",
    "since=0001-01-01T00:00:00%2B14:00",
    "until=9999-12-31T23:59:59-14:00",
    "q=checkout%00x",
    "limit=%C2%B2",
    "limit=" + "9" * 4301,  # more digits than Python will read as a number
)


async def test_bad_input_is_not_an_outage(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    await history.write(alerts=[analyzed(1)])
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        for query in BAD_INPUTS:
            async with http.get(f"{url}/api/alerts?{query}") as answer:
                body = await answer.json()
            assert (answer.status, body["history"]) == (200, True), query
            # The very next request, anyone's, still reads the database.
            async with http.get(url + "/api/alerts") as listing:
                assert (await listing.json())["history"] is True, query
            async with http.get(url + "/api/stats") as stats:
                assert stats.status == 200, query
        async with http.get(url + "/?before=garbage") as page:
            html = await page.text()
        assert "history database is unavailable" not in html
        assert "a0000001" in html  # a filter that does not parse does not filter
        for days in ("%C2%B2", "9" * 4301):
            async with http.get(f"{url}/stats?days={days}") as stats_page:
                assert stats_page.status == 200
            async with http.get(f"{url}/api/stats?days={days}") as stats_answer:
                assert stats_answer.status == 200


async def test_an_alert_names_the_same_service_live_and_after_a_reload(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    # kube-state-metrics scraped it (job) about payments-api (app): the service is the workload's.
    message = analyzed(1)
    labels = {
        "alertname": "KubeDeploymentReplicasMismatch",
        "app": "payments-api",
        "job": "kube-state-metrics",
    }
    message = msgspec.structs.replace(message, alert=msgspec.structs.replace(message.alert, labels=labels))
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
        http.get(url + "/api/stream") as stream,
    ):
        await stream.content.readline()  # subscribed from here on
        nc = await nats.connect(nats_server.url)
        try:
            await nc.jetstream().publish(schemas.ANALYZED, schemas.encode(message))
            kind, live = await asyncio.wait_for(_next_event(stream), 5)
        finally:
            await nc.close()
        await history.write(alerts=[message])  # as the history stage stores it
        async with http.get(url + "/api/alerts?service=payments-api") as reloaded:
            rows = (await reloaded.json())["items"]
    assert (kind, live["row"]["service"]) == ("alert", "payments-api")  # type: ignore[index]
    assert [(row["id"], row["service"]) for row in rows] == [("a0000001", "payments-api")]


async def test_an_alert_opens_by_the_short_id_the_cli_shows(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    shown_once = "582d3e2c46af" + "3" * 20
    twins = ["77aa01b2c3d4" + "0" * 20, "77aa01b2c3d4" + "f" * 20]
    await history.write(
        alerts=[
            msgspec.structs.replace(analyzed(1, alertname="DiskFull"), id=shown_once),
            *(msgspec.structs.replace(analyzed(2 + n), id=twin) for n, twin in enumerate(twins)),
        ]
    )
    short = schemas.short_id(shown_once)
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{url}/alerts/{short}", allow_redirects=False) as redirect:
            assert (redirect.status, redirect.headers["Location"]) == (302, f"/alerts/{shown_once}")
        async with http.get(f"{url}/alerts/{short}") as page:
            assert page.status == 200
            assert shown_once in await page.text()
        async with http.get(f"{url}/api/alerts/{short}") as answer:
            assert (answer.status, (await answer.json())["alert"]["id"]) == (200, shown_once)

        ambiguous = schemas.short_id(twins[0])
        async with http.get(f"{url}/alerts/{ambiguous}") as choices:
            html = await choices.text()
        assert choices.status == 300
        assert f"2 alerts have an id starting with {ambiguous}" in html
        assert all(f'href="/alerts/{twin}"' in html for twin in twins)
        async with http.get(f"{url}/api/alerts/{ambiguous}") as answer:
            assert (answer.status, (await answer.json())["ids"]) == (300, twins)

        # Shorter than what is shown, or the start of no id: not found, as before.
        for missing in (short[:-1], "582d3e2c46b0"):
            async with (
                http.get(f"{url}/alerts/{missing}") as page,
                http.get(f"{url}/api/alerts/{missing}") as api,
            ):
                assert (page.status, api.status) == (404, 404), missing


async def test_incidents_page_back_through_older_ones_in_the_api_and_on_the_page(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    stored = [f"inc-{n:02d}" for n in range(25)]
    await history.write(
        alerts=[analyzed(1, alertname="HighCPU")],
        incidents=[incident_event(i, 1, at=T0 + timedelta(minutes=n)) for n, i in enumerate(stored)],
    )
    newest_first = stored[::-1]
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        seen: list[str] = []
        cursor = ""
        for _ in range(4):
            async with http.get(
                url + "/api/incidents?limit=10" + (f"&before={cursor}" if cursor else "")
            ) as r:
                body = await r.json()
            seen += [row["id"] for row in body["items"]]
            cursor = body["next_cursor"] or ""
            if not cursor:
                break
        assert seen == newest_first  # every incident once, in order: the cursor moves the page

        async with http.get(url + "/") as first:
            html = await first.text()
        link = re.search(r'<a rel="next" href="(/\?incidents_before=[^"]+)">Older incidents', html)
        assert link is not None, html
        assert newest_first[0] in html
        assert newest_first[20] not in html
        async with http.get(url + link.group(1).replace("&amp;", "&")) as older:
            html = await older.text()
        assert newest_first[20] in html
        assert newest_first[0] not in html
        assert "<h2>Alerts</h2>" not in html  # a page of older incidents is that list alone
        # History as it was: no live rows land on top of an older page.
        assert "data-live=" not in html
        async with http.get(url + "/") as newest:
            assert "data-live=" in await newest.text()
        # A link carrying both cursors pages the alerts (never an empty page).
        incidents_cursor = link.group(1).split("incidents_before=", 1)[1].split("&", 1)[0]
        both = f"/?before={incidents_cursor}&incidents_before={incidents_cursor}"
        async with http.get(url + both) as mixed:
            assert "<h2>Alerts</h2>" in await mixed.text()


async def test_the_incident_list_counts_what_still_fires_as_the_incidents_page_does(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    # The analyst does not announce each member resolving: its last event's "3/3 firing" stayed in the
    # list while the incident's page said 2/3.
    started = T0 - timedelta(minutes=30)
    pods = [
        analyzed(
            n,
            alertname="KubePodNotReady",
            labels={"pod": f"cart-{n}"},
            starts_at=started,
            incident_id="inc-cart",
        )
        for n in (1, 2, 3)
    ]
    back = analyzed(
        9,
        alertname="KubePodNotReady",
        labels={"pod": "cart-1"},
        status="resolved",
        starts_at=started,
        ends_at=T0 + timedelta(minutes=5),
    )
    await history.write(alerts=[*pods, back], incidents=[incident_event("inc-cart", 2, members=pods)])
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/") as page:
            listing = await page.text()
        async with http.get(url + "/incidents/inc-cart") as page:
            detail = await page.text()
        async with http.get(url + "/api/incidents") as answer:
            body = await answer.json()
    row = re.search(r'<tr data-id="inc-cart">(.*?)</tr>', listing)
    assert row is not None
    assert '<td class="firing">2/3</td>' in row[1]
    assert " · 2/3 firing · " in detail
    assert [(i["firing_count"], i["member_count"]) for i in body["items"]] == [(2, 3)]


async def test_a_storm_larger_than_its_page_counts_every_resolution_and_says_what_is_not_listed(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    # The page lists an incident's first 1,000 alerts and the event its first 50 members: the root,
    # which came last, and 300 members it does not list resolved, and the page still said every member
    # fired.
    pods, back, event = pods_storm(
        "inc-big", 1200, resolved=[1200, *range(100, 400)], resolved_id_from=10_000
    )
    await history.write(alerts=[*pods, *back], incidents=[event])
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/incidents/inc-big") as page:
            detail = await page.text()
        async with http.get(url + "/") as page:
            listing = await page.text()
        async with http.get(url + "/api/incidents/inc-big") as answer:
            body = await answer.json()
    assert (body["firing"], body["alerts_held"], len(body["alerts"])) == (899, 1501, 1000)
    assert " · 899/1200 firing · " in detail
    assert "The first 1,000 of 1,501 alerts: 501 more not listed." in detail
    assert len(re.findall(r'<tr data-id="[ar]\d+"', detail)) == 1000
    member_rows = re.findall(r"<tr><td>(root|related)</td><td><a [^>]*>[^<]*</a></td><td>(\w+)</td>", detail)
    assert member_rows[0] == ("root", "resolved")
    row = re.search(r'<tr data-id="inc-big">(.*?)</tr>', listing)
    assert row is not None
    assert '<td class="firing">899/1200</td>' in row[1]


async def test_after_a_restart_a_live_row_names_an_incident_opened_before_it(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    # The console knew the titles of the incidents it had seen an event of: after a restart, the live
    # rows of an open incident's alerts named it by its id until its next event.
    opened = incident_event("inc-before", 3, title="payments failing in eu-west", at=T0)
    await history.write(incidents=[opened])
    async with (
        running_console(console_settings(nats_server.url, database_url)) as url,
        aiohttp.ClientSession() as http,
        http.get(url + "/api/stream") as stream,
    ):
        await stream.content.readline()  # the opening comment: subscribed from here on
        nc = await nats.connect(nats_server.url)
        try:
            joined = analyzed(7, incident_id="inc-before")
            await nc.jetstream().publish(schemas.ANALYZED, schemas.encode(joined))
            kind, data = await asyncio.wait_for(_next_event(stream), 5)
            while kind != "alert":  # a rename, had the titles come after the row
                kind, data = await asyncio.wait_for(_next_event(stream), 5)
        finally:
            await nc.close()
    assert ">payments failing in eu-west</a>" in str(data["html"])
