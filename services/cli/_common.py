"""What every operator command shares: settings from the environment and one NATS connection."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from loguru import logger
from nats.aio.client import Client

import schemas
from services.cli._nats_reach import nats_url_of, server_list, shown, unless_nothing_listens
from services.cli._probes import NotListening
from services.notifier import LinkSettings, summary_lines, view
from services.runtime import ConfigError, NatsSettings, close_connection, connect, load


def nats_settings() -> NatsSettings:
    try:
        settings = load(NatsSettings)
    except ConfigError as exc:
        raise SystemExit(f"aiops: configuration error: {exc}") from exc
    return msgspec.structs.replace(settings, nats_url=nats_url_of(os.environ))


# For a server that does not answer (yet): one where nothing listens is known at once (_nats_reach).
CONNECT_TIMEOUT_SECONDS = 5.0


@asynccontextmanager
async def nats_connection(name: str) -> AsyncIterator[Client]:
    settings = nats_settings()
    # A command's failure is reported once, below; the runtime's per-attempt warnings are service noise here.
    logger.disable("services.runtime")
    servers = server_list(settings.nats_url)
    where = shown(servers)
    try:
        nc = await asyncio.wait_for(
            unless_nothing_listens(connect(settings, f"aiops-cli-{name}", attempts=3), servers),
            CONNECT_TIMEOUT_SECONDS,
        )
    except NotListening as exc:
        raise SystemExit(
            f"aiops: cannot reach NATS at {where}: nothing listens there (set NATS_URL)"
        ) from exc
    except ConfigError as exc:  # the server refused our credentials: retrying cannot help
        raise SystemExit(f"aiops: {exc}") from exc
    except TimeoutError as exc:
        raise SystemExit(
            f"aiops: cannot reach NATS at {where} within {CONNECT_TIMEOUT_SECONDS:.0f}s (set NATS_URL)"
        ) from exc
    except Exception as exc:
        raise SystemExit(f"aiops: cannot reach NATS at {where}: {exc}") from exc
    try:
        yield nc
    finally:
        await close_connection(nc)


def render(message: schemas.AnalyzedAlert) -> str:
    """An analysis as an on-call engineer reads it in a terminal."""
    text = summary_lines(view(message, LinkSettings()))
    stamp = message.analyzed_at.strftime("%H:%M:%S")
    replay = f" [replay {message.replay.id}]" if message.replay else ""
    return f"[{stamp}] {schemas.short_id(message.id)}{replay}\n{text}"


def out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A line about the command's progress, kept off stdout where that carries a --json document."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
