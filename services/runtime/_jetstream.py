"""The stream and its durable consumers, as code: built from settings, provisioned at start-up.

``infra/nats/`` holds the same configuration as JSON for ``nats stream add --config``;
``aiops nats-config`` regenerates it and a test keeps it in step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
from loguru import logger
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import APIError, BucketNotFoundError
from nats.js.kv import KeyValue

import schemas
from services.nats_refusal import REFUSED, refused_credentials
from services.runtime._errors import ConfigError, Stopped
from services.runtime._nats_client import Client
from services.runtime._nats_errors import RepeatedErrors, describe
from services.runtime._settings import NatsSettings, StageSettings

T = TypeVar("T")

# Durable consumer name -> the subject it reads. The first three are the pipeline's stages; the others
# are companions (``StageSpec.companions``) served by a stage's process or by the history service.
CONSUMERS: dict[str, str] = {
    "enricher": schemas.RAW,
    "analyst": schemas.ENRICHED,
    "notifier": schemas.ANALYZED,
    "incidents": schemas.REVIEW,
    "notifier-incidents": schemas.INCIDENTS,
    "history": schemas.ANALYZED,
    "history-incidents": schemas.INCIDENTS,
    "history-feedback": schemas.FEEDBACK,
}


def stream_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=schemas.STREAM,
        description="Alerts through every stage of the AIOps pipeline; replayable",
        subjects=list(schemas.STREAM_SUBJECTS),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=settings.stream_max_age_hours * 3600,
        max_bytes=settings.stream_max_bytes,
        duplicate_window=settings.stream_duplicate_window_seconds,
        num_replicas=settings.stream_replicas,
        # Incidents refer to their exemplars by sequence, read by the stream itself (no JSON, no base64).
        allow_direct=True,
    )


def consumer_config(name: str, settings: StageSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=name,
        description=f"The {name} stage of the AIOps pipeline",
        filter_subject=CONSUMERS[name],
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_seconds,
        # The runtime dead-letters at max_deliver itself; the server never drops silently.
        max_deliver=-1,
        # Room for 16 replicas each holding all it may (an inline stage's batch included).
        max_ack_pending=max(1000, settings.most_held * 16),
    )


def nats_options(settings: NatsSettings, name: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "servers": [url.strip() for url in settings.nats_url.split(",") if url.strip()],
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 10,
        "max_outstanding_pings": 3,
    }
    if settings.nats_creds:
        options["user_credentials"] = settings.nats_creds
    if settings.nats_token:
        options["token"] = settings.nats_token
    return options


async def connect(
    settings: NatsSettings, name: str, *, stop: asyncio.Event | None = None, attempts: int | None = None
) -> Client:
    """Connect, retrying the first connection too: services may start before NATS.

    A server refusing our credentials on the first connection is a ConfigError (the service exits 2,
    naming the settings to check): credentials rarely fix themselves, and a supervisor shows that
    line instead of restarting into the same refusal. Once connected, a refusal while reconnecting
    (the server's authorization being rolled out) is retried like an outage, and logged as such."""
    errors = RepeatedErrors()
    refused = asyncio.Event()
    connected = False

    async def on_error(exc: Exception) -> None:
        if not connected and refused_credentials(exc):
            refused.set()  # raised below, once the attempt is stopped
            return
        line = errors.line(describe(exc))
        if line is not None:
            logger.warning("nats: {}", line)

    async def on_reconnect() -> None:
        errors.clear()
        logger.info("nats: reconnected")

    delay, tried = 0.2, 0
    while True:
        tried += 1
        nc = Client()

        async def on_disconnect(nc: Client = nc) -> None:
            if nc.is_closed:  # closed on purpose, at shutdown
                logger.info("nats: connection closed")
            else:
                logger.warning("nats: disconnected, reconnecting")

        connecting = asyncio.ensure_future(
            nc.connect(
                **nats_options(settings, name),
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            )
        )
        # nats-py retries a refused first connection inside connect() for as long as reconnects are
        # allowed (forever, here), so SIGTERM, or a refusal of our credentials, must interrupt the call.
        ends = [refused] if stop is None else [refused, stop]
        if await _stopped_first(connecting, *ends):
            with contextlib.suppress(Exception):
                await nc.close()
            if refused.is_set():
                raise ConfigError(f"NATS at {_servers(settings)} {REFUSED}")
            raise Stopped(f"stopped before NATS at {_servers(settings)} answered")
        try:
            await connecting
            connected = True
            errors.clear()  # what was said while waiting for NATS at start is no later outage's
            return nc
        except Exception as exc:
            if (attempts is not None and tried >= attempts) or (stop is not None and stop.is_set()):
                raise
            logger.warning("nats: cannot connect to {} ({}); retrying", _servers(settings), describe(exc))
            await _sleep_or_stop(delay, stop)
            delay = min(delay * 2, 5.0)


async def close_connection(nc: Client) -> None:
    """Flush acks and publishes, then close. Not drain(): it waits on pull inboxes nobody reads."""
    with contextlib.suppress(Exception):
        await nc.flush(timeout=2)
    with contextlib.suppress(Exception):
        await nc.close()


def _servers(settings: NatsSettings) -> str:
    # URLs may carry user:password; show host and port only.
    return ",".join(url.rsplit("@", 1)[-1] for url in settings.nats_url.split(","))


async def _stopped_first(work: asyncio.Future[Any], *stops: asyncio.Event) -> bool:
    """Wait for ``work`` or one of ``stops``; True (and ``work`` cancelled) when a stop came first."""
    stopping = [asyncio.ensure_future(stop.wait()) for stop in stops]
    await asyncio.wait({work, *stopping}, return_when=asyncio.FIRST_COMPLETED)
    for waiting in stopping:
        waiting.cancel()
    if work.done():
        return False
    work.cancel()
    with contextlib.suppress(BaseException):
        await work
    return True


async def _sleep_or_stop(delay: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):  # not wait_for: it may lose a cancellation (runtime._pull)
            await stop.wait()


async def ensure_stream(
    js: JetStreamContext, settings: NatsSettings, stop: asyncio.Event | None = None
) -> None:
    """Create the stream, or bring what may be updated in line; waits out a server or cluster that
    cannot hold it yet (``_retry``), as every service starting beside a server may have to."""
    await _retry("the stream", lambda: _ensure_stream_once(js, settings), stop)


async def _ensure_stream_once(js: JetStreamContext, settings: NatsSettings) -> None:
    config = stream_config(settings)
    try:
        await js.add_stream(config)
    except APIError as exc:
        # 10058: exists with another configuration; bring the updatable fields in line.
        if exc.err_code != 10058:
            raise
        await js.update_stream(config)


async def ensure_consumers(js: JetStreamContext, settings: StageSettings) -> None:
    for name in CONSUMERS:
        config = consumer_config(name, settings)
        try:
            await js.add_consumer(schemas.STREAM, config)
        except APIError as exc:
            logger.warning("consumer {} kept as it is: {}", name, exc.description)


async def key_value_bucket(
    js: JetStreamContext, settings: NatsSettings, bucket: str, description: str, ttl_seconds: float
) -> KeyValue:
    """Bind a key-value bucket, creating it the first time with the stream's replica count.

    Replicas racing to create it all end up bound; on a cluster the bucket survives a node like the stream.
    """
    config = KeyValueConfig(
        bucket=bucket,
        description=description,
        history=1,
        ttl=ttl_seconds if ttl_seconds > 0 else None,
        storage=StorageType.FILE,
        replicas=settings.stream_replicas,
    )

    async def bound() -> KeyValue:
        try:
            return await js.key_value(bucket)
        except BucketNotFoundError:
            # Another replica may create it first (and it is not visible yet), or a cluster still be
            # placing its replicas: ``_retry`` looks again shortly.
            return await js.create_key_value(config=config)

    return await _retry(f"the bucket {bucket}", bound, None)


async def provision(js: JetStreamContext, settings: StageSettings, stop: asyncio.Event | None = None) -> None:
    """Create, or update what may be updated: every service may run this at start-up."""
    await ensure_stream(js, settings, stop)
    await _retry("the consumers", lambda: ensure_consumers(js, settings), stop)


async def _retry(
    what: str, step: Callable[[], Awaitable[T]], stop: asyncio.Event | None, attempts: int = 20
) -> T:
    """``step`` again, ``attempts`` times (about half a minute while the server answers): a freshly
    started or restarted server answers "JetStream not ready" for a moment, and a cluster whose
    leader has not heard from every node yet "no suitable peers for placement". ``what``: what the
    step sets up, as the log says it. ``stop`` set meanwhile (SIGTERM) ends the wait at once, the
    request in flight too: ``Stopped``."""
    for attempt in range(attempts):
        trying = asyncio.ensure_future(step())
        if stop is not None and await _stopped_first(trying, stop):
            raise Stopped(f"stopped while NATS could not set up {what} yet")
        try:
            return await trying
        except (
            TimeoutError,
            nats.errors.TimeoutError,
            nats.js.errors.ServiceUnavailableError,
            APIError,
        ) as exc:
            if attempt == attempts - 1:
                raise
            delay = min(0.1 * 2**attempt, 2.0)
            logger.info("nats: cannot set up {} yet ({}); again in {:.1f}s", what, describe(exc), delay)
            await _sleep_or_stop(delay, stop)
            if stop is not None and stop.is_set():
                raise Stopped(f"stopped while NATS could not set up {what} yet ({describe(exc)})") from None
    raise AssertionError("unreachable")
