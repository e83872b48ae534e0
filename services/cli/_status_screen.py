"""``aiops status`` on a terminal: the report of ``_status`` as one screen of rich tables.

Imported only to draw: ``--json`` does without rich, and answers sooner.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

import schemas


def show(report: dict[str, Any]) -> None:
    screen = render(report)
    console = Console()
    if not console.is_terminal:
        # A pipe or a file has no width, and rich's 80 columns would cut the headers: as wide as it needs.
        console.width = Measurement.get(console, console.options.update_width(10_000), screen).maximum
    console.print(screen)


def live() -> Live:
    """A screen redrawn in place by ``--watch``."""
    return Live(auto_refresh=False, console=Console())


def _number(value: float | None) -> str:
    # The numbers of every message and screen read one way; "-" is an empty table cell.
    return "-" if value is None else schemas.number(value)


def _state(row: dict[str, Any]) -> Text:
    # Only the word here: the reason is in the problems below the table, where it has room.
    if row["ready"]:
        return Text("ready", style="green")
    return Text("not ready", style="yellow") if row["up"] else Text("down", style="red")


def render(report: dict[str, Any]) -> RenderableType:
    # One space between columns, so that the table fits 80 columns; narrower, a cell wraps at its words,
    # then folds, rather than losing its end (the * the last line explains) to an ellipsis.
    services = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    services.add_column("service", no_wrap=True)
    services.add_column("state", overflow="fold")
    for column in ("in/s", "out/s", "lag", "ack pending", "redelivered", "dead letters*"):
        services.add_column(column, justify="right", overflow="fold")
    for name, row in report["services"].items():
        numbers = ("in_per_s", "out_per_s", "lag", "ack_pending", "redelivered", "dead_lettered_since_start")
        services.add_row(name, _state(row), *(_number(row.get(key)) for key in numbers))
    parts: list[RenderableType] = [services]
    if report["stream_messages"] is not None:
        dead = report["dead_letters"]
        hint = " (aiops dlq list)" if dead else ""
        parts.append(
            Text(f"stream: {report['stream_messages']:,} messages · dead letters stored: {dead:,}{hint}")
        )
    llm = report["llm"]
    requests = ", ".join(f"{k} {v:,}" for k, v in sorted(llm["requests_since_start"].items())) or "none"
    today = "-" if llm["tokens_today"] is None else f"{llm['tokens_today']:,}"
    if llm["daily_limit"]:
        today += f" of {llm['daily_limit']:,}"
    parts.append(Text(f"LLM: breaker {llm['breaker']} · requests* {requests} · tokens today {today}"))
    if report["destinations"]:
        destinations = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("destination", "delivered", "retried", "rejected", "other outcomes"):
            destinations.add_column(column, justify="left" if column == "destination" else "right")
        for name, outcomes in sorted(report["destinations"].items()):
            known = {"delivered", "retry", "rejected"}
            other = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()) if k not in known) or "-"
            counts = (outcomes.get("delivered", 0), outcomes.get("retry", 0), outcomes.get("rejected", 0))
            # The notifier books what it posts nowhere (log only, replays not notified) under "-".
            destinations.add_row(name if name != "-" else "(log only)", *(_number(c) for c in counts), other)
        parts.append(destinations)
    for problem in report["problems"]:
        parts.append(Text(f"✗ {problem}", style="bold red"))
    if report["healthy"]:
        parts.append(Text("✓ every service is up and ready", style="green"))
    parts.append(
        Text(
            f"* since the service started · rates over {report['rate_seconds']:g} s · "
            f"answered in {report['answered_ms']:g} ms",
            style="dim",
        )
    )
    return Group(*parts)
