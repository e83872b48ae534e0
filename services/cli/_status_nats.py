"""The NATS side of ``aiops status``: one connection, and what JetStream knows, asked all at once.

connect()        one attempt, with the options every service connects with (``runtime.nats_options``)
read_nats()      the stream's subjects and size, every consumer's counts and the day's LLM tokens
read_subjects()  only the stream's per-subject counts: the counters behind the rates

``services.runtime`` is not imported: it loads the consumer loop, aiohttp's web server and prometheus
(a third of a second) for four settings; a unit test keeps what is repeated here equal to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import schemas
from services.cli._nats_reach import nats_url_of, server_list, shown, unless_nothing_listens
from services.cli._probes import PROBE_SECONDS, unanswered_because
from services.cli._status import CONSUMERS, NatsView


def _servers(env: Mapping[str, str]) -> list[str]:
    return server_list(nats_url_of(env))


@contextlib.contextmanager
def _without_websockets() -> Iterator[None]:
    """nats-py imported without aiohttp, unless a server is a WebSocket one (ws://, wss://).

    nats.aio.transport imports aiohttp (``try: import aiohttp``) only to offer WebSocket servers, and
    aiohttp's import costs about a third of a second here (it builds its SSL contexts as it loads):
    half of what ``aiops status`` may take. A None in sys.modules makes that import fail as if absent.
    """
    websockets = any(url.startswith(("ws://", "wss://")) for url in _servers(os.environ))
    if websockets or "aiohttp" in sys.modules or "nats" in sys.modules:
        yield
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["aiohttp"]  # whoever imports it later gets the real one


with _without_websockets():
    from nats.aio.client import Client
    from nats.js import JetStreamContext
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

    from services.nats_refusal import REFUSED, refused_credentials


def connection_options(env: Mapping[str, str], name: str) -> dict[str, Any]:
    """``runtime.nats_options`` for the NatsSettings read from ``env``."""
    options: dict[str, Any] = {
        "servers": _servers(env),
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 10,
        "max_outstanding_pings": 3,
    }
    if env.get("NATS_CREDS"):
        options["user_credentials"] = env["NATS_CREDS"]
    if env.get("NATS_TOKEN"):
        options["token"] = env["NATS_TOKEN"]
    return options


async def _quiet(*_: Any) -> None:
    """nats-py logs every failed attempt otherwise; the report says it in one line."""


async def connect(env: Mapping[str, str]) -> tuple[Client | None, str]:
    """A connection, or None and why: within PROBE_SECONDS, as every probe; at once where nothing
    listens or the server refuses our credentials (nats-py would retry that refusal until the probe's
    time ran out, and the report said "timed out")."""
    options = connection_options(env, "aiops-cli-status")
    servers = options["servers"]
    refused = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if refused_credentials(exc):
            refused.set()

    nc = Client()
    connecting = nc.connect(**options, error_cb=on_error, disconnected_cb=_quiet)
    attempt = asyncio.ensure_future(
        asyncio.wait_for(unless_nothing_listens(connecting, servers), PROBE_SECONDS)
    )
    refusal = asyncio.ensure_future(refused.wait())
    try:
        await asyncio.wait({attempt, refusal}, return_when=asyncio.FIRST_COMPLETED)
        if refused.is_set():
            raise _Refused
        await attempt
    except Exception as exc:
        attempt.cancel()
        with contextlib.suppress(BaseException):
            await attempt
        with contextlib.suppress(Exception):
            await nc.close()
        if isinstance(exc, _Refused):
            return None, f"{shown(servers)} {REFUSED}"
        return None, f"unreachable at {shown(servers)} ({unanswered_because(exc)})"
    finally:
        refusal.cancel()
    return nc, ""


class _Refused(Exception):
    """The server refused our credentials while we connected."""


async def close(nc: Client) -> None:
    with contextlib.suppress(Exception):
        await nc.close()


def _token_key(day: str) -> str:
    # The key the analyst's SharedTally writes (services/analyst/_budget.py).
    return f"tokens.{day}"


async def _tokens_today(js: JetStreamContext, bucket: str) -> int | None:
    try:
        kv = await js.key_value(bucket)
        entry = await kv.get(_token_key(datetime.now(UTC).date().isoformat()))
    except BucketNotFoundError:
        return None
    except KeyNotFoundError:
        return 0
    try:
        return int(entry.value or b"0")
    except ValueError:
        return None


async def _consumer(js: JetStreamContext, name: str) -> dict[str, int] | str:
    try:
        info = await js.consumer_info(schemas.STREAM, name, timeout=PROBE_SECONDS)
    except NotFoundError:
        return "not created yet (the stage has never started)"
    return {
        "lag": info.num_pending or 0,
        "ack_pending": info.num_ack_pending or 0,
        "redelivered": info.num_redelivered or 0,
    }


async def read_subjects(nc: Client | None, why_not: str) -> NatsView:
    if nc is None or not nc.is_connected:
        return NatsView(error=why_not or "not connected")
    js = nc.jetstream(timeout=PROBE_SECONDS)
    try:
        stream = await js.stream_info(schemas.STREAM, subjects_filter="alerts.>")
    except NotFoundError:
        return NatsView(error=f"stream {schemas.STREAM} missing: start any stage to create it")
    except Exception as exc:
        return NatsView(error=f"JetStream did not answer ({type(exc).__name__})")
    return NatsView(subjects=dict(stream.state.subjects or {}), messages=stream.state.messages)


async def read_nats(nc: Client | None, why_not: str, budget_bucket: str) -> NatsView:
    if nc is None or not nc.is_connected:
        return NatsView(error=why_not or "not connected")
    js = nc.jetstream(timeout=PROBE_SECONDS)
    # The stream, the consumers and the budget key over the one connection, none waiting on another.
    view, consumers, tokens = await asyncio.gather(
        read_subjects(nc, why_not),
        asyncio.gather(*(_consumer(js, name) for name in CONSUMERS), return_exceptions=True),
        _tokens_today(js, budget_bucket),
        return_exceptions=True,
    )
    if isinstance(view, BaseException):
        return NatsView(error=f"JetStream did not answer ({type(view).__name__})")
    if view.error:
        return view
    if not isinstance(consumers, BaseException):
        for name, answer in zip(CONSUMERS, consumers, strict=True):
            view.consumers[name] = answer if not isinstance(answer, BaseException) else type(answer).__name__
    view.tokens_today = tokens if isinstance(tokens, int) else None
    return view
