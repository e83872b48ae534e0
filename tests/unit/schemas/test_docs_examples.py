"""Every JSON example in docs/messages.md decodes with its type, and names no field the type lacks.

Each ```json block follows a ``<!-- example: TypeName -->`` line naming a type exported by ``schemas``.
Decoders ignore unknown fields on purpose (a newer producer must not break a consumer), so a misspelt
field in an example would decode silently; the examples are held to the type's real field names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

import schemas

MESSAGES = Path(__file__).resolve().parents[3] / "docs" / "messages.md"
_BLOCK = re.compile(r"(?:<!-- example: (\w+) -->\n)?```json\n(.*?)\n```", re.DOTALL)
# Fields Alertmanager sends that the contract ignores on purpose; the webhook example shows one.
TOLERATED = {"notification_reason"}


def _examples() -> list[tuple[str | None, str]]:
    return [(match.group(1), match.group(2)) for match in _BLOCK.finditer(MESSAGES.read_text())]


def _unknown_fields(example: Any, decoded: Any, path: str = "") -> list[str]:
    """Keys of ``example`` that re-encoding the decoded value does not produce."""
    if isinstance(example, dict) and isinstance(decoded, dict):
        unknown = [f"{path}.{key}" for key in example if key not in decoded and key not in TOLERATED]
        for key, value in example.items():
            if key in decoded:
                unknown += _unknown_fields(value, decoded[key], f"{path}.{key}")
        return unknown
    if isinstance(example, list) and isinstance(decoded, list):
        return [f for a, b in zip(example, decoded, strict=False) for f in _unknown_fields(a, b, f"{path}[]")]
    return []


def test_every_example_names_its_type() -> None:
    examples = _examples()
    assert len(examples) >= 8, "docs/messages.md lost its examples"
    untyped = [text[:60] for name, text in examples if name is None]
    assert not untyped, f"add <!-- example: TypeName --> before these blocks: {untyped}"


@pytest.mark.parametrize(("type_name", "text"), [e for e in _examples() if e[0]], ids=lambda v: str(v)[:20])
def test_example_decodes_with_its_type(type_name: str, text: str) -> None:
    message_type = getattr(schemas, type_name)
    decoded = schemas.decode(text, message_type)
    as_written = orjson.loads(text)
    reencoded = orjson.loads(schemas.encode(decoded))
    assert not _unknown_fields(as_written, reencoded), "fields the schema does not have"
    if isinstance(decoded, schemas.RawAlert) and decoded.source == "alertmanager":
        # The id derivation the page documents, checked on its own examples.
        assert decoded.id == schemas.alert_id(decoded.alert)


def test_every_subject_type_has_an_example() -> None:
    shown = {name for name, _ in _examples()}
    wanted = {
        "RawAlert",
        "EnrichedAlert",
        "AnalyzedAlert",
        "DeadLetter",
        "AlertmanagerWebhook",
        "ManualAlertRequest",
    }
    assert wanted <= shown


def test_unknown_fields_are_caught() -> None:
    # The check above must be able to fail.
    decoded = schemas.decode(
        b'{"status": "firing", "labels": {}, "startsAt": "2026-01-01T00:00:00Z"}', schemas.Alert
    )
    written = {"status": "firing", "labels": {}, "startsAt": "2026-01-01T00:00:00Z", "startAt": "typo"}
    assert _unknown_fields(written, msgspec.json.decode(schemas.encode(decoded))) == [".startAt"]


def test_the_documented_msg_ids_are_the_runtimes() -> None:
    from services.runtime import output_msg_id

    text = MESSAGES.read_text()
    (analyzed,) = [t for name, t in _examples() if name == "AnalyzedAlert"]
    (marker,) = [t for name, t in _examples() if name == "Replay"]
    message = schemas.decode(analyzed, schemas.AnalyzedAlert)
    replayed = msgspec.structs.replace(message, replay=schemas.decode(marker, schemas.Replay))
    assert f"`{output_msg_id('analyst', message)}`" in text
    short = output_msg_id("analyst", replayed).replace(message.id, f"{message.id[:4]}…{message.id[-4:]}")
    assert f"`{short}`" in text
