"""The rules' answer for each incident's root alert, kept in the process from the alert's own analysis
until the incident's review reads it back.

An incident's rules analysis starts from its root's own: ``RulesAnalyst.analyze`` of the root's
message, which is the answer the alert got a few seconds earlier (same message, same rules). A flood
of unrelated alerts makes one incident per alert, and each paid the rules twice. The answer is kept
under the root's sequence in the alerts' stream, which is how the incident refers to it (its
exemplar), and a review reuses it only for the message it reads back from there: a root re-sent
with other evidence is another message, and is analysed afresh, never answered from another
message. Bounded: the reviews of the last few seconds of a flood find theirs; an older one is
analysed again.

An incident of one alert whose root this process placed and analysed (a flood's incidents) is
reviewed from that answer as it is kept here. Its message is kept too only when the stream's sequence
of it is not known (nothing could read it back): an incident that grew reads its exemplars back from
the stream, which keeps them, and finds its root's answer here by sequence.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, NamedTuple

import schemas
from services.analyst._rules import RulesAnalyst
from services.runtime import Runtime

# Roots and their answers kept: more than a replica places in a grouping wait of a flood of one-alert
# incidents (5,000 a second for 5 s), as the reviews read them back after it. An answer is kept as the
# object the rules made (shared by both maps), which the alert's message holds anyway until it is
# published: encoding each root's answer to bytes and decoding it again at its review cost more than
# the three objects it adds to what the garbage collector walks (docs/incidents-throughput.md, "What binds the
# flood"). The message is kept as bytes where no sequence is known (callers without sequences).
KEPT = 32_768
# Roots placed and not yet analysed, held as decoded messages: the batches of a few turns. One whose
# batch failed after placing it is never analysed (its redelivery is another message) and goes first.
EXPECTING = 8_192


class KeptRoot(NamedTuple):
    alert_id: str  # the root's message's id
    message: bytes  # the message, encoded, when the stream's sequence of it is not known; else b""
    answer: schemas.Analysis  # the rules' answer for it


class RootAnalyses:
    def __init__(self, rules: RulesAnalyst | None = None, limit: int = KEPT) -> None:
        self.rules = rules  # the analyst's, shared with its reviews: one catalogue, one answer
        self.limit = limit
        # Roots placed, by message id, until their alert is analysed: the message, its stream
        # sequence (0: not known) and (incident, the root's episode).
        self._expected: OrderedDict[str, tuple[schemas.EnrichedAlert, int, tuple[str, str]]] = OrderedDict()
        self._analyses: OrderedDict[int, schemas.Analysis] = OrderedDict()  # exemplar's sequence -> answer
        self._roots: OrderedDict[tuple[str, str], KeptRoot] = OrderedDict()  # by (incident, root's episode)

    def expect(self, incident_id: str, message: schemas.EnrichedAlert, sequence: int) -> None:
        """``message`` is the root of ``incident_id``, kept by the alerts' stream at ``sequence``."""
        root = (incident_id, schemas.episode_key(message.alert))
        self._expected[message.id] = (message, sequence, root)
        _bound(self._expected, min(self.limit, EXPECTING))

    def analysed(self, message: schemas.EnrichedAlert, analysis: schemas.Analysis) -> None:
        """The rules' answer for ``message``, kept if it is the very message expected."""
        found = self._expected.pop(message.id, None)
        if found is not None and found[0] is message:
            if found[1]:
                self._analyses[found[1]] = analysis
                _bound(self._analyses, self.limit)
            kept = b"" if found[1] else schemas.encode(message)  # read back by sequence otherwise
            self._roots[found[2]] = KeptRoot(message.id, kept, analysis)
            _bound(self._roots, self.limit)

    def root(self, incident_id: str, episode: str) -> tuple[schemas.EnrichedAlert, schemas.Analysis] | None:
        """The incident's root as this process placed and analysed it, if it did and the stream's
        sequence of it was not known."""
        kept = self._roots.get((incident_id, episode))
        if kept is None or not kept.message:
            return None
        return schemas.decode(kept.message, schemas.EnrichedAlert), kept.answer

    def answer(self, incident_id: str, episode: str, alert_id: str) -> schemas.Analysis | None:
        """The rules' answer for the incident's root as this process placed and analysed it, if it
        did and that root is the alert ``alert_id``; its message left undecoded."""
        kept = self._roots.get((incident_id, episode))
        if kept is None or kept.alert_id != alert_id:
            return None
        return kept.answer

    def find(self, sequence: int) -> schemas.Analysis | None:
        """The answer made for the alerts' stream's message ``sequence``, if this process made it."""
        return self._analyses.get(sequence) if sequence else None


def _bound(kept: OrderedDict[Any, Any], limit: int) -> None:
    while len(kept) > limit:
        kept.popitem(last=False)


# One per serving process (the analyst's stage and its reviews share a runtime).
_SHARED: weakref.WeakKeyDictionary[object, RootAnalyses] = weakref.WeakKeyDictionary()


def shared_roots(runtime: Runtime, rules: RulesAnalyst | None = None) -> RootAnalyses:
    """The process's ``RootAnalyses``; the analyst's build gives it its rules first."""
    roots = _SHARED.get(runtime.registry)
    if roots is None:
        roots = _SHARED[runtime.registry] = RootAnalyses(rules)
    elif roots.rules is None:
        roots.rules = rules
    return roots
