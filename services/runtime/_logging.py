"""Structured logs: one line per event worth knowing, bound to stage and alert id."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from loguru import logger

from services.runtime._tracing import current_trace_id, tracing_enabled

_TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DDTHH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[stage]}</cyan> {extra[alert_id]} {message}"
)
# With tracing on, each line also names its trace ("-" outside one), to find the trace from a log.
_TRACED_TEXT_FORMAT = _TEXT_FORMAT.replace("{extra[alert_id]} ", "{extra[alert_id]} {extra[trace_id]} ")


def _add_trace_id(record: Any) -> None:
    record["extra"]["trace_id"] = current_trace_id() or "-"


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
    traced = tracing_enabled()
    logger.configure(extra={"stage": stage, "alert_id": "-"}, patcher=_add_trace_id if traced else None)
    # diagnose=False: a traceback must never print local variables (settings, credentials).
    if fmt == "json":
        logger.add(_json_sink, level=level.upper(), diagnose=False)
    else:
        text_format = _TRACED_TEXT_FORMAT if traced else _TEXT_FORMAT
        logger.add(
            sys.stderr, level=level.upper(), format=text_format, colorize=sys.stderr.isatty(), diagnose=False
        )
