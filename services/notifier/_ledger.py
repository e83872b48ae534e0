"""The delivery ledger: a JetStream key-value bucket that remembers what was posted where.

A delivery is recorded after the destination accepted it and before the input
message is acked, so a redelivered message (a crash, a retry because another
destination failed) skips the destinations that already have it.

    delivered.<alert id>[.replay-<id>].<destination>   one accepted post
    resolved.<episode hash>                            when an episode resolved (flap guard)
    episode.<episode hash>[.replay-<id>].<destination> what a conversation said (Jira: the issue key)
    incident.<incident id>.<sequence>[.replay-<id>].<destination>   one incident event delivered
    thread.<incident id>[.replay-<id>].<destination>   what a destination was told of an incident
                                                       (Slack: the message to edit; the last update)
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import TypeVar

import msgspec
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

import schemas
from services.runtime import NatsSettings, key_value_bucket

# A JetStream leader election takes a few seconds; a delivery record waits that long rather than be lost.
RECORD_PATIENCE_SECONDS = 20.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

T = TypeVar("T", bound=msgspec.Struct)


class Delivery(msgspec.Struct, kw_only=True, frozen=True):
    destination: str
    status: int
    attempt: int
    at: datetime


def _replay(message: schemas.AnalyzedAlert | schemas.IncidentEvent) -> str:
    return f".replay-{_UNSAFE.sub('_', message.replay.id)[:64]}" if message.replay is not None else ""


def delivery_key(message: schemas.AnalyzedAlert, destination: str, alert_id: str | None = None) -> str:
    return f"delivered.{alert_id or message.id}{_replay(message)}.{destination}"


def episode_record_key(message: schemas.AnalyzedAlert, destination: str) -> str:
    """Shared by a firing, its re-sends and its resolution (unlike the alert id)."""
    episode = hashlib.sha256(schemas.episode_key(message.alert).encode()).hexdigest()[:32]
    return f"episode.{episode}{_replay(message)}.{destination}"


def incident_key(event: schemas.IncidentEvent, destination: str) -> str:
    return f"incident.{_UNSAFE.sub('_', event.incident.id)}.{event.sequence}{_replay(event)}.{destination}"


def thread_key(event: schemas.IncidentEvent, destination: str) -> str:
    return f"thread.{_UNSAFE.sub('_', event.incident.id)}{_replay(event)}.{destination}"


def resolution_key(alert: schemas.Alert) -> str:
    return "resolved." + hashlib.sha256(schemas.episode_key(alert).encode()).hexdigest()[:32]


class Ledger:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def seen(self, key: str) -> bool:
        try:
            await self.kv.get(key)
        except KeyNotFoundError:
            return False
        return True

    async def recall(self, key: str, kind: type[T]) -> T | None:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        return schemas.decode(entry.value, kind) if entry.value else None

    async def record(self, key: str, delivery: msgspec.Struct) -> None:
        """Keep trying through a leader election: the post already happened, and a record lost
        here would post it again on redelivery. A put is idempotent, so a retry after a write
        whose answer was lost does no harm."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((TimeoutError, NatsError)),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            stop=stop_after_delay(RECORD_PATIENCE_SECONDS),
            reraise=True,
        ):
            with attempt:
                await self.kv.put(key, schemas.encode(delivery))

    async def mark_resolved(self, alert: schemas.Alert) -> None:
        if alert.ends_at is not None:
            await self.kv.put(resolution_key(alert), alert.ends_at.isoformat().encode())

    async def resolved_at(self, alert: schemas.Alert) -> datetime | None:
        try:
            entry = await self.kv.get(resolution_key(alert))
        except KeyNotFoundError:
            return None
        return datetime.fromisoformat(entry.value.decode()) if entry.value else None


async def open_ledger(
    js: JetStreamContext, bucket: str, ttl_seconds: float, settings: NatsSettings | None = None
) -> Ledger:
    description = "Deliveries per (alert id, destination) (aiops notifier)"
    return Ledger(await key_value_bucket(js, settings or NatsSettings(), bucket, description, ttl_seconds))
