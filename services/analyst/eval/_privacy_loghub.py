"""Look-alikes on real logs: what the anonymiser masks that Loghub's templates hold as constant text.

Loghub (../shared/benchmarks/loghub) labels each line with its ground-truth template, whose
variable parts are ``<*>``. A value the anonymiser replaces that still occurs in the template is
text every line of that event carries — a word, a code, a constant name — so it was masked
wrongly, or at best needlessly (a template may keep a constant host name, which is then counted
here although masking it is right: the figure is an upper bound).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.analyst._anonymize import Anonymizer

_EXAMPLES = 10


@dataclass
class LoghubFigure:
    lines: int = 0
    masked: int = 0
    constant: int = 0
    by_set: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def constant_share(self) -> float:
        return self.constant / max(1, self.masked)


def loghub_present(directory: Path) -> bool:
    return any(directory.glob("*_2k.log_structured.csv"))


def measure_loghub(directory: Path) -> LoghubFigure:
    figure = LoghubFigure()
    for path in sorted(directory.glob("*_2k.log_structured.csv")):
        name = path.name.split("_", 1)[0]
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            for row in csv.DictReader(handle):
                figure.lines += 1
                anonymizer = Anonymizer()
                anonymizer.scrub(row["Content"])
                for value, placeholder in anonymizer.replaced().items():
                    figure.masked += 1
                    if value in row["EventTemplate"]:
                        figure.constant += 1
                        figure.by_set[name] += 1
                        if len(figure.examples) < _EXAMPLES:
                            figure.examples.append(
                                f"{name}: {value!r} as {placeholder} in {row['EventTemplate']!r}"
                            )
    return figure


def loghub_lines(figure: LoghubFigure) -> list[str]:
    sets = ", ".join(f"{name} {count}" for name, count in figure.by_set.most_common()) or "none"
    return [
        f"Loghub ({figure.lines} real lines): {figure.masked} values anonymised, {figure.constant} of them "
        f"({figure.constant_share:.1%}) constant text of the line's template ({sets})"
    ]
