"""Grouping by the scenario's own answer: what the lifecycle alone costs when grouping is perfect.

``python -m bench.storms --oracle`` runs every storm with this in place of the correlator, so the
notifications and LLM calls it prints are the lifecycle's share, apart from grouping mistakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import schemas
from services.incidents._correlate import Assignment, incident_id
from services.incidents._index import OpenIndex
from services.incidents._simulate import Arrival


class TruthGrouping:
    def __init__(self, arrivals: Iterable[Arrival]) -> None:
        self._truth = {schemas.episode_key(a.message.alert): a.truth for a in arrivals}
        self._first: dict[str, str] = {}  # true incident -> its first episode

    def assign(
        self, index: OpenIndex, messages: Sequence[schemas.EnrichedAlert], now: datetime
    ) -> tuple[OpenIndex, list[Assignment]]:
        out = []
        for message in messages:
            episode = schemas.episode_key(message.alert)
            first = self._first.setdefault(self._truth[episode], episode)
            opened = first == episode
            out.append(
                Assignment(
                    episode, incident_id(first), "root" if opened else "related", (), opened, False, False
                )
            )
        return index, out
