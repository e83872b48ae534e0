"""``just eval --feedback DIR``: how right the analyses were in production, by people's verdicts.

DIR is what ``aiops feedback export`` wrote: ``verdicts.jsonl`` (every verdict, with the category and
confidence the analyst gave then) and scenario files (the verdicts that name the right category).
From the verdicts: precision per category the analyst gave (confirmed / judged) and calibration
(how often an answer in each confidence band was confirmed). The scenarios are scored like the
project's own, so the analyst of today is measured on the cases people labelled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec

from services.analyst.eval._score import BAND_EDGES, Band, band_of

VERDICTS_FILE = "verdicts.jsonl"


class Verdict(msgspec.Struct, frozen=True):
    """One line of verdicts.jsonl (the fields this report reads)."""

    verdict: str
    category: str = ""
    confidence: float | None = None
    analyzer: str = ""
    corrected_category: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.verdict == "confirmed"


def load_verdicts(directory: Path) -> list[Verdict]:
    path = directory / VERDICTS_FILE
    if not path.is_file():
        return []
    decoder = msgspec.json.Decoder(Verdict)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


@dataclass(frozen=True)
class Precision:
    category: str
    judged: int
    confirmed: int

    @property
    def precision(self) -> float:
        return self.confirmed / self.judged if self.judged else 0.0


def precision_by_category(verdicts: list[Verdict]) -> list[Precision]:
    """Per category the analyst gave: how many were judged and confirmed; most judged first."""
    judged: dict[str, int] = defaultdict(int)
    confirmed: dict[str, int] = defaultdict(int)
    for v in verdicts:
        judged[v.category or "?"] += 1
        confirmed[v.category or "?"] += v.confirmed
    rows = [Precision(c, judged[c], confirmed[c]) for c in judged]
    return sorted(rows, key=lambda p: (-p.judged, p.category))


def calibration(verdicts: list[Verdict]) -> list[Band]:
    """Verdicts and confirmations per confidence band, for the verdicts whose confidence is known."""
    counts = [0] * len(BAND_EDGES)
    right = [0] * len(BAND_EDGES)
    for v in verdicts:
        if v.confidence is None:
            continue
        index = band_of(v.confidence)
        counts[index] += 1
        right[index] += v.confirmed
    highs: list[float | None] = [*BAND_EDGES[1:], None]
    return [Band(low, high, n, r) for low, high, n, r in zip(BAND_EDGES, highs, counts, right, strict=True)]


def feedback_lines(directory: Path) -> list[str]:
    """The printed report; a line saying what is missing when there is nothing to report."""
    verdicts = load_verdicts(directory)
    if not verdicts:
        return [
            f"no verdicts at {directory / VERDICTS_FILE} (write them with: aiops feedback export --dir DIR)"
        ]
    confirmed = sum(v.confirmed for v in verdicts)
    lines = [
        f"human verdicts: {len(verdicts)}, confirmed {confirmed} ({confirmed / len(verdicts):.1%})",
        f"  {'category (as analysed)':<24} {'judged':>6} {'confirmed':>9} {'precision':>9}",
    ]
    for row in precision_by_category(verdicts):
        lines.append(f"  {row.category:<24} {row.judged:>6} {row.confirmed:>9} {row.precision:>9.0%}")
    lines.append(f"  {'confidence':<11} {'verdicts':>8} {'confirmed':>9} {'share':>6}")
    for band in calibration(verdicts):
        share = f"{band.accuracy:.0%}" if band.accuracy is not None else "-"
        lines.append(f"  {band.label:<11} {band.count:>8} {band.right:>9} {share:>6}")
    return lines
