"""Subject and stream names: the addresses of the contract."""

from __future__ import annotations

from typing import Final

STREAM: Final = "ALERTS"
STREAM_SUBJECTS: Final = ("alerts.>",)

RAW: Final = "alerts.raw"
ENRICHED: Final = "alerts.enriched"
ANALYZED: Final = "alerts.analyzed"
DEAD: Final = "alerts.dead"

# Header carrying the deterministic id JetStream de-duplicates on.
MSG_ID_HEADER: Final = "Nats-Msg-Id"
