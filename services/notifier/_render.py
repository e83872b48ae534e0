"""The request a destination gets for one alert, as its kind renders it."""

from __future__ import annotations

from services.notifier._http import Request
from services.notifier._kind import Destination
from services.notifier._kinds import kind_named
from services.notifier._view import AlertView


def render(destination: Destination, v: AlertView, now: int) -> Request:
    kind = kind_named(destination.type)
    if kind.render is None:
        raise ValueError(f"destination type {destination.type!r} does not post one request per alert")
    return kind.render(destination, v, now)
