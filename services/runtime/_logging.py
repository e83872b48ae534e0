"""Structured logs: one line per event worth knowing, bound to stage and alert id."""

from __future__ import annotations

import contextvars
import sys
from types import TracebackType
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


# The alert being handled, named on every line logged meanwhile. loguru's ``contextualize`` would do
# the same at several times the cost per message (two lock round trips and a dict copy, paid
# whether or not a line is written); this is read only when a line is.
_alert_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("alert_id", default=None)


def about_alert(alert_id: str) -> _AboutAlert:
    """Within the block, log lines carry ``alert_id`` (once ``configure_logging`` has run)."""
    return _AboutAlert(alert_id)


class _AboutAlert:
    """A class rather than a generator: entered once per message."""

    __slots__ = ("alert_id", "token")

    def __init__(self, alert_id: str) -> None:
        self.alert_id = alert_id

    def __enter__(self) -> None:
        self.token = _alert_id.set(self.alert_id)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _: TracebackType | None
    ) -> None:
        _alert_id.reset(self.token)


def _add_alert_id(record: Any) -> None:
    alert_id = _alert_id.get()
    # A value bound by the caller (``logger.bind``/``contextualize``) is the more specific one.
    if alert_id is not None and record["extra"].get("alert_id", "-") == "-":
        record["extra"]["alert_id"] = alert_id


def _add_alert_and_trace_ids(record: Any) -> None:
    _add_alert_id(record)
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
    patcher = _add_alert_and_trace_ids if traced else _add_alert_id
    logger.configure(extra={"stage": stage, "alert_id": "-"}, patcher=patcher)
    # diagnose=False: a traceback must never print local variables (settings, credentials).
    if fmt == "json":
        logger.add(_json_sink, level=level.upper(), diagnose=False)
    else:
        text_format = _TRACED_TEXT_FORMAT if traced else _TEXT_FORMAT
        logger.add(
            sys.stderr, level=level.upper(), format=text_format, colorize=sys.stderr.isatty(), diagnose=False
        )
