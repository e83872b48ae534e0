"""JSON Schema for every message, generated from the Structs (never by hand)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson

from schemas import _subjects
from schemas._alertmanager import AlertmanagerWebhook
from schemas._feedback import Feedback
from schemas._incidents import IncidentEvent, IncidentReviews
from schemas._messages import (
    AnalyzedAlert,
    DeadLetter,
    EnrichedAlert,
    ManualAlertRequest,
    RawAlert,
)

# File name -> (what it describes, type).
DOCUMENTED: dict[str, tuple[str, type[Any]]] = {
    "alertmanager-webhook": ("POST /webhook/alertmanager body", AlertmanagerWebhook),
    "manual-alert": ("POST /analyze body", ManualAlertRequest),
    "alerts.raw": (_subjects.RAW, RawAlert),
    "alerts.enriched": (_subjects.ENRICHED, EnrichedAlert),
    "alerts.analyzed": (_subjects.ANALYZED, AnalyzedAlert),
    "alerts.dead": (_subjects.DEAD, DeadLetter),
    "alerts.incidents": (_subjects.INCIDENTS, IncidentEvent),
    "alerts.review": (_subjects.REVIEW, IncidentReviews),
    "alerts.feedback": (_subjects.FEEDBACK, Feedback),
}


def json_schema(message_type: type[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(message_type)
    return schema


def write_all(directory: Path) -> list[Path]:
    """Write one ``<name>.schema.json`` per documented message; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (_, message_type) in DOCUMENTED.items():
        path = directory / f"{name}.schema.json"
        body = orjson.dumps(json_schema(message_type), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        path.write_bytes(body + b"\n")
        written.append(path)
    return written
