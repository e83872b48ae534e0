"""Analyzed alerts as the analyst publishes them, read from tests/fixtures/notifier/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

import schemas

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "notifier"


def _firing() -> schemas.AnalyzedAlert:
    message = schemas.decode((FIXTURES / "analyzed_firing.json").read_bytes(), schemas.AnalyzedAlert)
    return msgspec.structs.replace(message, id=schemas.alert_id(message.alert))


@pytest.fixture
def firing() -> schemas.AnalyzedAlert:
    return _firing()


@pytest.fixture
def resolve() -> Callable[[schemas.AnalyzedAlert, float], schemas.AnalyzedAlert]:
    """The resolved message of the same episode, ``seconds`` after it started."""

    def make(message: schemas.AnalyzedAlert, seconds: float) -> schemas.AnalyzedAlert:
        ends = message.alert.starts_at + timedelta(seconds=seconds)
        alert = msgspec.structs.replace(message.alert, status="resolved", ends_at=ends)
        return msgspec.structs.replace(message, alert=alert, id=schemas.alert_id(alert))

    return make
