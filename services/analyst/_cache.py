"""One analysis per firing episode, kept in a JetStream key-value bucket.

The key is a hash of ``schemas.episode_key`` (fingerprint + startsAt), which KV keys can hold;
re-sends of the episode and its resolution find the analysis there instead of calling the LLM.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

import schemas
from services.runtime import NatsSettings, key_value_bucket


class CachedAnalysis(msgspec.Struct, kw_only=True, frozen=True):
    episode: str
    analysis: schemas.Analysis
    analyzed_at: datetime


def cache_key(alert: schemas.Alert) -> str:
    return "ep." + hashlib.sha256(schemas.episode_key(alert).encode()).hexdigest()[:40]


class EpisodeCache:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    @classmethod
    async def open(
        cls, js: JetStreamContext, bucket: str, ttl_hours: float, settings: NatsSettings | None = None
    ) -> EpisodeCache:
        description = "One analysis per firing episode (aiops analyst)"
        kv = await key_value_bucket(js, settings or NatsSettings(), bucket, description, ttl_hours * 3600)
        return cls(kv)

    async def get(self, alert: schemas.Alert) -> CachedAnalysis | None:
        try:
            entry = await self.kv.get(cache_key(alert))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        try:
            return msgspec.json.decode(entry.value, type=CachedAnalysis)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None

    async def put(self, alert: schemas.Alert, analysis: schemas.Analysis, analyzed_at: datetime) -> None:
        cached = CachedAnalysis(
            episode=schemas.episode_key(alert), analysis=analysis, analyzed_at=analyzed_at
        )
        await self.kv.put(cache_key(alert), msgspec.json.encode(cached))
