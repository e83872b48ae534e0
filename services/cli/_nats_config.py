"""The stream and consumers as JSON for ``nats stream add --config`` and ``nats consumer add --config``."""

from __future__ import annotations

import json
from pathlib import Path

from services.runtime import CONSUMERS, StageSettings, consumer_config, load, stream_config


def nats_config_documents() -> dict[str, dict[str, object]]:
    """File name -> JSON document, from the default settings (the code is the source of truth)."""
    settings = load(StageSettings, {})
    documents: dict[str, dict[str, object]] = {"stream.json": stream_config(settings).as_dict()}
    for name in CONSUMERS:
        documents[f"consumers/{name}.json"] = consumer_config(name, settings).as_dict()
    return documents


def write_nats_config(directory: Path) -> list[Path]:
    written = []
    for name, document in nats_config_documents().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
