"""What the console keeps of the live stream: the rows it serves while the database is down."""

from __future__ import annotations

import pytest

from services.console._filters import Filters
from services.console._live import Recent
from services.console._rows import incident_row
from services.history import IncidentRow
from tests.support.history import incident_event


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
