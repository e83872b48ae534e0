"""NATS where nothing listens, known at once, for the commands that connect to it.

nats-py's connect() retries a refused first connection inside the call for as long as reconnects are
allowed (forever, with the options every service connects with), so a command waited out its whole
timeout to report what the first attempt knew. Beside the connect, one plain TCP connection per
server tells: when every server fails at once (refused, no route, a name that does not resolve, as
``_probes`` calls a service down) the connect is abandoned; one that accepts, or keeps the connection
pending, leaves the connect its caller's timeout. Only asyncio: ``aiops status`` imports this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from services.cli._probes import NotListening

T = TypeVar("T")

# nats-py's default port of each scheme.
_DEFAULT_PORTS = {"ws": 80, "wss": 443}
_NATS_PORT = 4222


def nats_url_of(env: Mapping[str, str]) -> str:
    """Where the commands find NATS: ``NATS_URL``, else the nats-server ``aiops up`` starts on
    ``NATS_PORT`` (4222), so a port moved for ``aiops up`` is moved for every command with it."""
    return env.get("NATS_URL") or f"nats://127.0.0.1:{env.get('NATS_PORT') or _NATS_PORT}"


def server_list(nats_url: str) -> list[str]:
    """NATS_URL's servers, as ``runtime.nats_options`` reads the comma-separated list."""
    return [url.strip() for url in nats_url.split(",") if url.strip()]


def shown(servers: Iterable[str]) -> str:
    """``host:port`` of each server, as a message names them: no scheme, no credentials."""
    return ",".join(url.rsplit("@", 1)[-1].split("://")[-1] for url in servers)


def _address(server: str) -> tuple[str, int] | None:
    # A bare host:port is a nats:// URL to nats-py too.
    parts = urlsplit(server if "://" in server else f"nats://{server}")
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, _NATS_PORT)
    except ValueError:
        return None  # not an address: left to connect() to say why
    return parts.hostname or "127.0.0.1", port


async def _listens(server: str) -> bool:
    address = _address(server)
    if address is None:
        return True
    try:
        _, writer = await asyncio.open_connection(*address)
    except OSError:
        return False
    except ValueError:
        return True  # a host name that is no name (idna): left to connect() to say why
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _nothing_listens(servers: list[str]) -> bool:
    """True once every server failed at once; False as soon as one accepted."""
    checks = [asyncio.ensure_future(_listens(server)) for server in servers]
    try:
        for answered in asyncio.as_completed(checks):
            if await answered:
                return False
        return True
    finally:
        for check in checks:
            check.cancel()


async def unless_nothing_listens(connecting: Awaitable[T], servers: list[str]) -> T:
    """What ``connecting`` returns; NotListening at once when nothing listens at any of ``servers``."""
    attempt = asyncio.ensure_future(connecting)
    check = asyncio.ensure_future(_nothing_listens(servers))
    try:
        await asyncio.wait({attempt, check}, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done() and check.result():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            raise NotListening(f"nothing listens at {shown(servers)}")
        return await attempt
    finally:
        for task in (attempt, check):
            task.cancel()
