"""A live row names its incident by the title the history holds, loaded once and never waited for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import msgspec

import schemas
from services.console._live import LiveEvent, LiveHub, Recent
from tests.support.history import analyzed


def _data(event: LiveEvent | None) -> dict[str, str]:
    assert event is not None
    return dict(msgspec.json.decode(event.data))


async def _arrives(hub: LiveHub, message: schemas.AnalyzedAlert) -> None:
    await hub._on_alert(SimpleNamespace(data=schemas.encode(message)))  # type: ignore[arg-type]


async def test_titles_load_once_in_the_background_and_rename_what_went_out_by_id() -> None:
    asked, answer = [], asyncio.Event()

    async def titles() -> dict[str, str]:
        asked.append(1)
        await answer.wait()  # a slow database
        return {"inc-old": "payments failing in eu-west"}

    hub = LiveHub(Recent(10), titles)
    queue = hub.subscribe()
    hub._load_titles()
    for n in (1, 2):
        message = analyzed(n, incident_id="inc-old")
        await _arrives(hub, message)
    rows = [_data(queue.get_nowait()) for _ in range(2)]
    assert all(">inc-old</a>" in row["html"] for row in rows)  # by id, at once
    answer.set()
    cells = _data(await asyncio.wait_for(queue.get(), 5))
    assert (cells["rows"], cells["key"]) == ("incident", "inc-old")
    assert ">payments failing in eu-west</a>" in cells["html"]
    await _arrives(hub, analyzed(3, incident_id="inc-old"))
    assert ">payments failing in eu-west</a>" in _data(queue.get_nowait())["html"]
    assert asked == [1]
    await hub.stop()


async def test_without_the_database_the_row_names_the_id_and_the_next_one_asks_again() -> None:
    answers: list[dict[str, str] | None] = [None, {"inc-old": "disk full on db-1"}]

    async def titles() -> dict[str, str] | None:
        return answers.pop(0)

    hub = LiveHub(Recent(10), titles)
    queue = hub.subscribe()
    await _arrives(hub, analyzed(1, incident_id="inc-old"))
    assert ">inc-old</a>" in _data(queue.get_nowait())["html"]
    assert hub._loading is not None
    await hub._loading
    await _arrives(hub, analyzed(2, incident_id="inc-old"))
    await hub._loading
    assert hub.recent.incident_title("inc-old") == "disk full on db-1"
    assert answers == []


async def test_titles_that_fail_to_load_leave_rows_named_by_id_and_are_not_asked_for_each_alert() -> None:
    asked: list[int] = []

    async def titles() -> dict[str, str] | None:
        asked.append(1)
        raise ValueError("a row the history could not decode")

    hub = LiveHub(Recent(10), titles)
    queue = hub.subscribe()
    await _arrives(hub, analyzed(1, incident_id="inc-old"))
    assert hub._loading is not None
    await hub._loading  # the failure is logged, not left in a task nobody awaits
    for n in (2, 3):
        await _arrives(hub, analyzed(n, incident_id="inc-old"))
    rows = [_data(queue.get_nowait()) for _ in range(3)]
    assert all(">inc-old</a>" in row["html"] for row in rows)
    assert asked == [1]
    await hub.stop()
