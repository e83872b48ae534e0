"""The history service's settings: where the database is and how long it keeps things."""

from __future__ import annotations

from typing import Annotated

from services.runtime import StageSettings, doc


class HistorySettings(StageSettings, kw_only=True, frozen=True):
    database_url: Annotated[
        str,
        doc(
            "Where history is kept: sqlite:///path/file.db (embedded, the default) or"
            " postgresql://user:password@host:5432/db",
            secret=True,
        ),
    ] = "sqlite:///.data/history.db"
    history_retention_days: Annotated[
        int, doc("Days an analysis, incident or verdict is kept before it is deleted (0: forever)")
    ] = 90
    history_purge_interval_seconds: Annotated[float, doc("How often expired history is deleted")] = 3600.0
    database_connect_seconds: Annotated[
        float, doc("How long start-up waits for the database before giving up (the supervisor restarts it)")
    ] = 60.0
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 8005
    # Room for a lagging consumer to catch up in bigger transactions, each row of which costs less.
    max_in_flight: Annotated[
        int, doc("Messages one replica holds at once; what arrived during a write goes in the next one")
    ] = 1024
    # A database outage is waited out, not dead-lettered: with the backoff's last step of 60 s,
    # 200 deliveries cover more than three hours.
    max_deliver: Annotated[
        int, doc("Deliveries before a message is dead-lettered (high: a database outage is waited out)")
    ] = 200
