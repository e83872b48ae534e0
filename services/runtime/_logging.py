"""Structured logs: one line per event worth knowing, bound to stage and alert id."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from loguru import logger

_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DDTHH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[stage]}</cyan> {extra[alert_id]} {message}"
)


def _json_sink(message: Any) -> None:
    record = message.record
    line: dict[str, Any] = {
        "ts": record["time"].isoformat(),
        "level": record["level"].name,
        "msg": record["message"],
    }
    line.update({k: v for k, v in record["extra"].items() if v not in ("", "-")})
    if record["exception"] is not None:
        line["exception"] = repr(record["exception"].value)
    sys.stderr.write(orjson.dumps(line, default=str).decode() + "\n")


def configure_logging(stage: str, level: str = "INFO", fmt: str = "text") -> None:
    """Replace loguru's default sink; safe to call again (tests start several stages)."""
    logger.remove()
    logger.configure(extra={"stage": stage, "alert_id": "-"})
    if fmt == "json":
        logger.add(_json_sink, level=level.upper())
    else:
        logger.add(sys.stderr, level=level.upper(), format=_TEXT_FORMAT, colorize=sys.stderr.isatty())
