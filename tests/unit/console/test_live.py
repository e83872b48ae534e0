"""What the console keeps of the live stream: the rows it serves while the database is down."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

import schemas
from services.console._filters import Filters
from services.console._live import Recent
from services.console._rows import incident_row
from services.history import IncidentRow
from tests.support.history import T0, analyzed, incident_event


def test_the_kept_incidents_list_builds_each_row_once(monkeypatch: pytest.MonkeyPatch) -> None:
    recent = Recent(10)
    for n in range(1, 4):
        recent.keep_incident(incident_event(f"inc-{n}", n))
    built: list[str] = []

    def counted(event: object) -> IncidentRow:
        row = incident_row(event)  # type: ignore[arg-type]
        built.append(row.id)
        return row

    monkeypatch.setattr("services.console._live.incident_row", counted)
    page = recent.incident_page(Filters.parse({}))
    assert [row.id for row in page.items] == ["inc-3", "inc-2", "inc-1"]
    assert sorted(built) == ["inc-1", "inc-2", "inc-3"]


def test_a_kept_incident_counts_its_members_resolving_since_its_event_once() -> None:
    # What / lists while the database is down, and what the live page's count follows.
    started = T0 - timedelta(minutes=30)
    pods = [analyzed(n, labels={"pod": f"p{n}"}, starts_at=started, incident_id="inc-1") for n in range(4)]
    pods = [msgspec.structs.replace(p, id=schemas.alert_id(p.alert)) for p in pods]
    event = incident_event("inc-1", 2, members=pods[:2])
    event = msgspec.structs.replace(
        event, incident=msgspec.structs.replace(event.incident, member_count=4, firing_count=4)
    )
    recent = Recent(10)
    recent.keep_incident(event)

    def firing() -> int:
        return recent.incident_page(Filters.parse({})).items[0].firing_count

    def end(n: int) -> schemas.AnalyzedAlert:
        return analyzed(
            100 + n, labels={"pod": f"p{n}"}, status="resolved", starts_at=started, incident_id="inc-1"
        )

    recent.keep_alert(end(3))  # unlisted
    assert firing() == 3
    recent.keep_alert(end(3))  # sent again
    assert firing() == 3
    recent.keep_alert(end(0))  # listed
    recent.keep_alert(analyzed(200, labels={"pod": "x"}, status="resolved", incident_id="inc-other"))
    assert firing() == 2
    recent.keep_incident(msgspec.structs.replace(event, sequence=3))  # counts them as before: no news
    assert firing() == 3  # the listed one, still listed firing, stays resolved; the event counts the other
