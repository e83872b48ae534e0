"""With the history database down the console says so, and serves what arrived while it ran."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import nats
import pytest

import schemas
from services.history import History
from tests.support.console import console_settings, running_console
from tests.support.history import T0, analyzed
from tests.support.nats_server import NatsServer
from tests.support.postgres import Postgres, postgres_missing

BANNER = "history database is unavailable"


async def _published(nats_url: str, message: schemas.AnalyzedAlert) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(schemas.ANALYZED, schemas.encode(message))
    finally:
        await nc.close()


async def _until_listed(http: aiohttp.ClientSession, url: str, alert_id: str) -> dict[str, object]:
    async with asyncio.timeout(5):
        while True:
            async with http.get(url + "/api/alerts") as answer:
                body = await answer.json()
            if alert_id in [row["id"] for row in body["items"]]:
                return dict(body)
            await asyncio.sleep(0.05)


async def test_an_unreachable_database_shows_a_banner_and_the_live_analyses(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    secret = "pg-Passw0rd-not-for-pages"
    unreachable = f"postgresql://aiops:{secret}@127.0.0.1:1/history"
    async with (
        running_console(console_settings(nats_server.url, unreachable)) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/") as page:
            html = await page.text()
        assert page.status == 200
        assert BANNER in html
        assert secret not in html
        await _published(nats_server.url, analyzed(1, alertname="StillShown"))
        body = await _until_listed(http, url, "a0000001")
        assert body["history"] is False
        async with http.get(url + "/alerts/a0000001") as detail:
            text = await detail.text()
        assert detail.status == 200
        assert "StillShown" in text
        assert BANNER in text


def _listed_alerts(html: str) -> dict[str, str]:
    """The alert rows a page lists, by id: each row's markup."""
    body = html.split('id="alerts-body">', 1)[1].split("</tbody>", 1)[0]
    return dict(re.findall(r'<tr data-id="([^"]+)"(.*?)</tr>', body))


async def test_without_the_database_firing_lists_what_still_fires(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # "firing" is what is still broken: a firing alert whose resolution arrived is not, database or not.
    started = T0 - timedelta(minutes=30)
    gone = analyzed(1, alertname="NodeGone", starts_at=started)
    back = analyzed(
        2, alertname="NodeGone", status="resolved", starts_at=started, ends_at=T0 + timedelta(minutes=5)
    )
    still = analyzed(3, alertname="StillBroken")
    unreachable = "postgresql://aiops:x@127.0.0.1:1/history"
    async with (
        running_console(console_settings(nats_server.url, unreachable)) as url,
        aiohttp.ClientSession() as http,
    ):
        for message in (gone, back, still):
            await _published(nats_server.url, message)
        await _until_listed(http, url, still.id)
        async with http.get(url + "/api/alerts?status=firing") as answer:
            body = await answer.json()
        async with http.get(url + "/?status=firing") as page:
            firing = _listed_alerts(await page.text())
        async with http.get(url + "/") as page:
            everything = _listed_alerts(await page.text())
    assert body["history"] is False
    assert [row["id"] for row in body["items"]] == [still.id]
    assert list(firing) == [still.id]
    # Unfiltered, the ended episode's firing row reads as the history's list renders it.
    assert list(everything) == [still.id, back.id, gone.id]
    assert "status-resolved" in everything[gone.id]
    assert "ended <time" in everything[gone.id]
    assert "status-firing" in everything[still.id]


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    if missing := postgres_missing():
        pytest.skip(missing)
    server = Postgres().init().start()
    try:
        yield server
    finally:
        server.close()


async def test_the_banner_comes_with_an_outage_and_goes_with_it(
    nats_server: NatsServer, postgres: Postgres
) -> None:
    history = await History.open(postgres.url)
    await history.write(alerts=[analyzed(1, alertname="Stored")])
    await history.close()
    settings = console_settings(nats_server.url, postgres.url)
    async with running_console(settings) as url, aiohttp.ClientSession() as http:
        async with http.get(url + "/") as page:
            assert BANNER not in await page.text()
        postgres.stop()
        async with http.get(url + "/") as page:
            assert BANNER in await page.text()
        postgres.start()
        async with asyncio.timeout(20):  # the console tries the database again every 5 s
            while True:
                async with http.get(url + "/") as page:
                    html = await page.text()
                if BANNER not in html:
                    break
                await asyncio.sleep(0.2)
        assert "Stored" in html


def _overwrite(database: Path) -> None:
    """What a full disk or a bad copy leaves: the pages of the file, its write-ahead log and its index
    overwritten under the open connection."""
    for damaged in database.parent.glob(database.name + "*"):
        size = damaged.stat().st_size
        with damaged.open("r+b") as file:
            file.write(b"\xa5" * size)


async def test_a_database_file_damaged_while_in_use_shows_the_banner_not_an_error(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    path = tmp_path / "history.db"
    async with (
        running_console(console_settings(nats_server.url, f"sqlite:///{path}")) as url,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(url + "/api/alerts") as answer:
            assert (await answer.json())["history"] is True
        _overwrite(path)
        async with http.get(url + "/api/alerts") as answer:
            body = await answer.json()
        async with http.get(url + "/") as page:
            html = await page.text()
    assert answer.status == 200, body
    assert body["history"] is False
    assert page.status == 200
    assert BANNER in html
