"""Alert ids: stable for one firing episode, fresh for manual alerts."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import lru_cache

from schemas._alertmanager import Alert

# How many characters of an id people are shown (`aiops tail`, the demo): the console takes that many,
# or more, in place of the whole id.
SHORT_ID_CHARS = 12


def short_id(full_id: str) -> str:
    return full_id[:SHORT_ID_CHARS]


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stand-in for Alertmanager's fingerprint when a sender omits it."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def episode_key(alert: Alert) -> str:
    """Fingerprint and start time: what a firing and its resolution share."""
    return episode_of(alert.fingerprint or label_fingerprint(alert.labels), alert.starts_at)


# The analyst asks for an alert's episode at every step of placing its batch (ten times or so): the
# time's formatting was 2% of its CPU on a flood. A batch is at most 512 alerts.
@lru_cache(maxsize=4096)
def episode_of(fingerprint: str, starts_at: datetime) -> str:
    """``episode_key`` of an alert with this fingerprint (the stand-in when it had none) and start, as
    the history stores them."""
    return f"{fingerprint}@{starts_at.astimezone(UTC).isoformat(timespec='microseconds')}"


def alert_id(alert: Alert) -> str:
    """Same id for every re-send of one episode; the resolution gets its own."""
    return _id_of(episode_key(alert), alert.status)


def firing_id(episode: str) -> str:
    """``alert_id`` of the firing message of the episode with this ``episode_key``: what an incident lists
    its member by, and what the resolution's readers (the notifier, the console) look it up by."""
    return _id_of(episode, "firing")


def _id_of(episode: str, status: str) -> str:
    return hashlib.sha256(f"{episode}|{status}".encode()).hexdigest()[:32]


def manual_id() -> str:
    return uuid.uuid4().hex
