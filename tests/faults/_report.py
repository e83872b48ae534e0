"""The faults table: one row per scenario, collected as tests run, printed once at the end."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    scenario: str
    sent: int
    analysed: int
    notified: int
    lost: int
    duplicated: int
    # From the end of the fault (process restarted, broker or provider back) until output moves again.
    recover_seconds: float | None
    note: str = ""


ROWS: list[Row] = []
# Findings that are not alert counts (fuzzing, slow bodies, auth), printed under the table.
NOTES: list[str] = []

HEADER = ("scenario", "alerts sent", "analysed", "notified", "lost", "duplicated", "time to recover")


def record(row: Row) -> Row:
    ROWS.append(row)
    return row


def table(rows: list[Row]) -> str:
    cells = [HEADER] + [
        (
            r.scenario,
            f"{r.sent:,}",
            f"{r.analysed:,}",
            f"{r.notified:,}",
            str(r.lost),
            str(r.duplicated),
            "-" if r.recover_seconds is None else f"{r.recover_seconds:.1f} s",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = [_line(row, widths) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.scenario}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", *notes] if notes else []))


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    # The scenario reads left-aligned, the figures right-aligned.
    return "  ".join(
        cell.ljust(width) if i == 0 else cell.rjust(width)
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )
