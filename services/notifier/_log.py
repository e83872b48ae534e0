"""The log as a destination: the analysis as readable lines in the notifier's own log."""

from __future__ import annotations

from loguru import logger

from services.notifier._kind import Destination, DestinationKind, Exchange, Result, tagged
from services.notifier._logline import summary_lines
from services.notifier._view import AlertView


async def _write(exchange: Exchange, destination: Destination, v: AlertView) -> Result:
    logger.info("{}:\n{}", destination.name, summary_lines(v))
    return Result("logged")


KIND = DestinationKind(name="log", spec=tagged("log"), needs_url=False, immediate=True, converse=_write)
