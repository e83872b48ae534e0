"""What the enricher finds in a time series, as one vocabulary for the writer and its readers.

An entry of ``SeriesSummary.events`` is a sentence for a person or an LLM ("spike to 0.98 at
10:03:00Z, 2m before the alert"), and it starts with the phrase of its kind. The enricher writes
the phrase from here; a program reads the kind back with ``SeriesEvent.of(sentence)``, which works
on messages written before this enum existed, since their sentences began the same way.
"""

from __future__ import annotations

import enum
import re


class SeriesEvent(enum.StrEnum):
    """The kind of a finding, spelt as the words its sentence starts with."""

    SPIKE = "spike to"  # a short excursion above the series' usual level
    DIP = "dip to"  # a short excursion below it
    ROSE = "rose to"  # a longer excursion above it, with how long it lasted
    FELL = "fell to"  # a longer excursion below it
    LEVEL_SHIFT = "level shift"  # the level before and after one moment differ clearly
    INCREASED = "increased"  # a counter of events (restarts) that went up now and then
    STEADY_RISE = "steady rise"  # a ramp up, with its rate
    STEADY_FALL = "steady fall"  # a ramp down, and when it reaches 0 at that rate
    STEP = "step from"  # a whole-number level (generation, replicas) that changed
    APPEARED = "appeared at"  # a series that starts inside the window: a new version or pod
    DISAPPEARED = "disappeared after"  # a series that ends inside it

    @classmethod
    def of(cls, sentence: str) -> SeriesEvent | None:
        """The kind a finding's sentence starts with, as whole words; None for any other text."""
        found = _LEADING.match(sentence)
        return cls(found.group(0).lower()) if found else None


# Longest phrase first, so that no phrase shadows a longer one it begins.
_LEADING = re.compile(
    "|".join(re.escape(kind.value) for kind in sorted(SeriesEvent, key=lambda k: -len(k.value))) + r"\b",
    re.IGNORECASE,
)
