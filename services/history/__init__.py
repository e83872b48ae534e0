"""History: every analysis, incident and verdict in SQL (SQLite by default, PostgreSQL), and the
queries the console asks (docs/history.md).

``python -m services.history`` is the stage that writes it; ``History`` is how others read it.
"""

from services.history._db import HistoryUnavailable
from services.history._filters import BadCursor, is_cursor
from services.history._members import Known, as_the_history_knows
from services.history._queries import History
from services.history._recall import recall
from services.history._rows import (
    AlertQuery,
    AlertRow,
    CategoryPrecision,
    DayStats,
    IncidentQuery,
    IncidentRow,
    Page,
    RuleNoise,
    Stats,
)
from services.history._settings import HistorySettings
from services.history._similar import Memory, Recalled

__all__ = [
    "AlertQuery",
    "AlertRow",
    "BadCursor",
    "CategoryPrecision",
    "DayStats",
    "History",
    "HistorySettings",
    "HistoryUnavailable",
    "IncidentQuery",
    "IncidentRow",
    "Known",
    "Memory",
    "Page",
    "Recalled",
    "RuleNoise",
    "Stats",
    "as_the_history_knows",
    "is_cursor",
    "recall",
]
