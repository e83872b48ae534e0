"""From request bodies to ``alerts.raw`` messages: pure, so every rejection is unit-tested."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import msgspec

import schemas
from services.ingest._errors import BadRequest
from services.privacy import Redactor, redact_alert, redact_labels

T = TypeVar("T")

MAX_LABELS = 128
MAX_LABEL_VALUE = 8 * 1024
_DEFAULT = Redactor()


def _decode(body: bytes, message_type: type[T]) -> T:
    if not body.strip():
        raise BadRequest("empty body: expected a JSON object")
    try:
        return schemas.decode(body, message_type)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"not a valid {message_type.__name__}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest("invalid JSON: nested too deeply") from exc


def _check_labels(alert: schemas.Alert, where: str) -> None:
    if not alert.labels.get("alertname"):
        raise BadRequest(f"{where}: labels.alertname is required")
    if len(alert.labels) + len(alert.annotations) > MAX_LABELS:
        raise BadRequest(f"{where}: more than {MAX_LABELS} labels and annotations")
    for name, value in (*alert.labels.items(), *alert.annotations.items()):
        if len(value) > MAX_LABEL_VALUE:
            raise BadRequest(f"{where}: value of {name[:64]!r} is longer than {MAX_LABEL_VALUE} characters")


def parse_webhook(
    body: bytes, now: datetime | None = None, redactor: Redactor | None = None
) -> list[schemas.RawAlert]:
    """One ``RawAlert`` per alert of an Alertmanager webhook (version 4), secrets redacted from its labels
    and annotations before anything is published (dead letters carry what ``alerts.raw`` carried)."""
    redactor = redactor or _DEFAULT
    webhook = _decode(body, schemas.AlertmanagerWebhook)
    if not webhook.version.startswith("4"):
        raise BadRequest(f"unsupported webhook version {webhook.version!r}: expected '4'")
    if not webhook.alerts:
        raise BadRequest("the webhook carries no alerts")
    received_at = now or datetime.now(UTC)
    group = schemas.GroupContext(
        receiver=redactor.redact(webhook.receiver),
        group_key=redactor.redact(webhook.group_key),
        group_labels=redact_labels(webhook.group_labels, redactor),
        common_labels=redact_labels(webhook.common_labels, redactor),
        external_url=redactor.redact(webhook.external_url),
    )
    messages = []
    for index, alert in enumerate(webhook.alerts):
        _check_labels(alert, f"alerts[{index}]")
        messages.append(
            schemas.RawAlert(
                id=schemas.alert_id(alert),
                alert=redact_alert(alert, redactor),
                group=group,
                source="alertmanager",
                received_at=received_at,
                redacted=True,
            )
        )
    return messages


def parse_manual(
    body: bytes, now: datetime | None = None, redactor: Redactor | None = None
) -> schemas.RawAlert:
    """A ``POST /analyze`` body: labels (with alertname), optional annotations and startsAt."""
    request = _decode(body, schemas.ManualAlertRequest)
    received_at = now or datetime.now(UTC)
    alert = schemas.Alert(
        status="firing",
        labels=request.labels,
        annotations=request.annotations,
        starts_at=request.starts_at or received_at,
        generator_url=request.generator_url,
        fingerprint=schemas.label_fingerprint(request.labels),
    )
    _check_labels(alert, "alert")
    return schemas.RawAlert(
        id=schemas.manual_id(),
        alert=redact_alert(alert, redactor or _DEFAULT),
        source="manual",
        received_at=received_at,
        redacted=True,
    )
