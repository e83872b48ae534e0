"""The list's filters: GET parameters in, history queries out, and the same test for live rows.

Unknown or malformed values are dropped (a filter that does not parse does not filter) rather than
answered with an error page: the form is the user's, and a stale bookmark should still open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

from services.history import AlertQuery, AlertRow, IncidentQuery, IncidentRow, is_cursor

RANGES = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
STATUSES = ("firing", "resolved", "open")
ANALYZERS = ("llm", "rules")
MAX_TEXT = 200
WORD = re.compile(r"\w+", re.UNICODE)


def _time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
        # In UTC here, as the history compares it: an offset can take a time past the calendar's ends
        # (0001-01-01T00:00+01:00), which must not parse rather than fail the query.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# More digits than any count a page takes; and Python refuses to read over 4,300 of them.
MAX_COUNT_DIGITS = 9


def whole_number(value: str) -> int | None:
    """A positive count from a query string (ASCII digits: ``str.isdigit`` also takes "²")."""
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_COUNT_DIGITS):
        return None
    return int(value) or None


# The query parameters that page a list rather than filter it: never carried into other links.
CURSORS = ("before", "incidents_before")


@dataclass(frozen=True)
class Filters:
    """The form's values as the user gave them (shown back in the form), cleaned."""

    range: str = ""
    since: str = ""
    until: str = ""
    severity: str = ""
    category: str = ""
    service: str = ""
    namespace: str = ""
    status: str = ""
    analyzer: str = ""
    degraded: str = ""  # "", "yes", "no"
    q: str = ""
    # Where a page of older alerts starts; older incidents have their own, so each list pages alone.
    before: str = ""
    incidents_before: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        values = {f.name: params.get(f.name, "").strip()[:MAX_TEXT] for f in fields(cls)}
        if values["range"] not in RANGES:
            values["range"] = ""
        if values["status"] not in STATUSES:
            values["status"] = ""
        if values["analyzer"] not in ANALYZERS:
            values["analyzer"] = ""
        if values["degraded"] not in ("yes", "no"):
            values["degraded"] = ""
        for cursor in CURSORS:
            if not is_cursor(values[cursor]):
                values[cursor] = ""
        if values["before"]:  # one list pages at a time: the alerts', when a link carries both
            values["incidents_before"] = ""
        return cls(**values)

    @property
    def paging(self) -> bool:
        """A page of older rows: history as it was, with no live rows arriving on top."""
        return bool(self.before or self.incidents_before)

    def params(self) -> dict[str, str]:
        """The non-empty filters, for links and the live stream's URL."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) and f.name not in CURSORS
        }

    def window(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        since = _time(self.since) if self.since else None
        if self.range:
            since = (now or datetime.now(UTC)) - RANGES[self.range]
        return since, _time(self.until) if self.until else None

    @property
    def degraded_flag(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.degraded)

    def alert_query(self, limit: int = 50) -> AlertQuery:
        since, until = self.window()
        status = self.status if self.status in ("firing", "resolved") else ""
        return AlertQuery(
            since=since,
            until=until,
            severity=self.severity,
            category=self.category,
            service=self.service,
            namespace=self.namespace,
            status=status,
            # "firing" on the page means still broken: not the firing row of an episode resolved since.
            still_firing=status == "firing",
            analyzer=self.analyzer,
            degraded=self.degraded_flag,
            text=self.q,
            limit=limit,
            before=self.before or None,
        )

    def incident_query(self, limit: int = 20, before: str = "") -> IncidentQuery:
        """``before``: the cursor of the page asked for (the API's ``before``, the page's
        ``incidents_before``)."""
        since, until = self.window()
        status = {"firing": "open", "open": "open", "resolved": "resolved"}.get(self.status, "")
        return IncidentQuery(
            since=since,
            until=until,
            severity=self.severity,
            category=self.category,
            status=status,
            degraded=self.degraded_flag,
            text=self.q,
            limit=limit,
            before=before or None,
        )

    def matches_alert(self, row: AlertRow, haystack: str) -> bool:
        """Whether a live row belongs on the filtered page (``haystack``: its searchable text)."""
        since, until = self.window()
        checks = (
            (self.severity, row.severity),
            (self.category, row.category),
            (self.service, row.service),
            (self.namespace, row.namespace),
            (self.analyzer, row.analyzer),
        )
        if any(wanted and wanted.lower() != have.lower() for wanted, have in checks):
            return False
        if self.status in ("firing", "resolved") and row.status != self.status:
            return False
        if self.status == "firing" and row.ended_at is not None:
            return False  # still firing, as the history's ``still_firing``: not an episode ended since
        if self.degraded_flag is not None and row.degraded != self.degraded_flag:
            return False
        if (since and row.received_at < since) or (until and row.received_at > until):
            return False
        return words_match(self.q, haystack)

    def matches_incident(self, row: IncidentRow, haystack: str) -> bool:
        if self.service or self.namespace or self.analyzer:
            return False  # incidents are not filtered on these: a filtered page shows alerts only
        if self.severity and self.severity.lower() != row.severity.lower():
            return False
        if self.category and self.category != row.category:
            return False
        wanted = {"firing": "open", "open": "open", "resolved": "resolved"}.get(self.status, "")
        if wanted and row.status != wanted:
            return False
        if self.degraded_flag is not None and row.degraded != self.degraded_flag:
            return False
        return words_match(self.q, haystack)


def words_match(query: str, text: str) -> bool:
    """Every word of ``query`` is a whole word of ``text`` (case-insensitive), as the history's search."""
    have = {w.lower() for w in WORD.findall(text)}
    return all(w.lower() in have for w in WORD.findall(query))
