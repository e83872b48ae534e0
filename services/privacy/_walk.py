"""Redaction of whole messages: every string an alert or its evidence carries, the structure kept.

Labels and annotations are redacted with their name in front (``password`` = ``hunter2`` reads as the pair
``"password": "hunter2"``), since a label's value alone rarely says it is a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

import schemas
from schemas import Alert, Evidence, RawAlert
from services.privacy._redact import DEFAULT, Redactor

T = TypeVar("T")
M = TypeVar("M", bound=RawAlert)

# Field types that hold no text: a struct's fields of these are passed over without a call.
_SCALARS = frozenset({type(None), bool, int, float, datetime})


# kube-state-metrics' `secret` label names a Secret object (kube_secret_info{secret="db-credentials"}): its
# value is judged as a token's would be, so a generated-looking value goes and an object's name stays.
_NAMING_LABELS = {"secret": "token"}


def redact_pair(name: str, value: str, redactor: Redactor = DEFAULT) -> str:
    """``value`` redacted as the value of a field called ``name``."""
    if not value:
        return value
    name = _NAMING_LABELS.get(name, name)
    if '"' in value or "\n" in value:
        return redactor.redact(value)
    pair = f'"{name}": "{value}"'
    joined = redactor.redact(pair)
    if joined == pair:  # the common case, told apart without slicing
        return value
    prefix = f'"{name}": "'
    if joined.startswith(prefix) and joined.endswith('"'):
        return joined[len(prefix) : -1]
    return redactor.redact(value)


def redact_labels(labels: dict[str, str], redactor: Redactor = DEFAULT) -> dict[str, str]:
    """The same dict when nothing in it changed; else a new one, in the same order."""
    redacted = labels
    for name, value in labels.items():
        new = redact_pair(name, value, redactor)
        if new != value:
            if redacted is labels:
                redacted = dict(labels)
            redacted[name] = new
    return redacted


def redact_value(value: T, redactor: Redactor = DEFAULT) -> T:
    """Every string inside ``value`` (structs, lists, tuples, dicts) redacted; unchanged parts are reused."""
    return _walk(value, redactor)  # type: ignore[no-any-return]


def _walk(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, msgspec.Struct):
        changes = {}
        for name in value.__struct_fields__:
            field = getattr(value, name)
            kind = type(field)
            if kind in _SCALARS:
                continue
            new = redactor.redact(field) if kind is str else _walk(field, redactor)
            if new is not field:
                changes[name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            return redact_labels(value, redactor)
        items = {key: _walk(item, redactor) for key, item in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, (list, tuple)):
        # Points and other number lists hold nothing to redact: skip them after one look.
        if (
            not value
            or isinstance(value[0], (int, float))
            or (isinstance(value[0], tuple) and value[0] and isinstance(value[0][0], (int, float)))
        ):
            return value
        walked = [_walk(item, redactor) for item in value]
        if all(new is old for new, old in zip(walked, value, strict=True)):
            return value
        return tuple(walked) if isinstance(value, tuple) else walked
    return value


def redact_alert(alert: Alert, redactor: Redactor = DEFAULT) -> Alert:
    """The alert's labels, annotations and generator URL redacted; its fingerprint kept from the original
    labels, so every stage still agrees on the episode."""
    redacted = redact_value(alert, redactor)
    if redacted is alert or alert.fingerprint:
        return redacted
    return msgspec.structs.replace(redacted, fingerprint=schemas.label_fingerprint(alert.labels))


def redact_message(message: M, redactor: Redactor = DEFAULT) -> M:
    """A pipeline message with its alert, group context and (if any) evidence redacted."""
    changes: dict[str, Any] = {}
    alert = redact_alert(message.alert, redactor)
    if alert is not message.alert:
        changes["alert"] = alert
    group = redact_value(message.group, redactor)
    if group is not message.group:
        changes["group"] = group
    evidence = getattr(message, "evidence", None)
    if isinstance(evidence, Evidence):
        redacted = redact_value(evidence, redactor)
        if redacted is not evidence:
            changes["evidence"] = redacted
    return msgspec.structs.replace(message, **changes) if changes else message
