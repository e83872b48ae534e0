"""Start-up checks of destinations that can tell at once that they cannot work.

A refused token or an unknown project stops the service with a ConfigError naming
the setting; a destination that does not answer only earns a warning, since it
may be back before the first alert.
"""

from __future__ import annotations

import aiohttp

from services.notifier._kind import Destination
from services.notifier._kinds import kind_named


async def probe(
    session: aiohttp.ClientSession, destinations: list[Destination], limit_seconds: float
) -> None:
    for destination in destinations:
        check = kind_named(destination.type).probe
        if check is not None:
            await check(session, destination, limit_seconds)
