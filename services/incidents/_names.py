"""An index entry's capped name lists, grown as a batch places alerts (``_index`` says what the caps are).

Apart from ``_index`` because this is work on every alert, compiled with the correlation
(services/compiled.py), while the entries themselves are decoded from the key-value store and must stay
interpreted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable


def merged(current: list[str], new: Iterable[str], cap: int) -> list[str]:
    """``current`` then the new values it lacks, in sorted order, up to ``cap``: the first names stay."""
    if len(current) >= cap:
        return current
    present = set(current)
    added = [value for value in sorted(new) if value not in present]
    return current + added[: cap - len(current)] if added else current


_KINDS = re.compile(r"^([^=\n]*)=", re.MULTILINE)


def kind_of(name: str) -> str:
    """``pod`` of ``pod=cart-0``."""
    return name.split("=", 1)[0]


class Names:
    """One capped list of "kind=value" names as a batch grows it: at most ``per_kind`` names of a kind
    and ``cap`` in all, the first ones staying; ``present`` and the counts kept in step (no rescans).

    The list it is given is copied at its first growth and grown in place after that: an entry the
    batch read may be read again (a placement given up is placed again on a newer view), while the
    entries the batch makes of one incident are each superseded by the next (``OpenEntries.replace``),
    and a storm's incident of thousands of names would otherwise be copied for each alert joining it."""

    def __init__(self, names: list[str], cap: int, per_kind: int) -> None:
        self.names = names
        self._owned = False  # ``names`` is a copy of its own: grown in place
        self.present = set(names)
        self._cap, self._per_kind = cap, per_kind
        self._counts: Counter[str] | None = None  # counted when first needed
        self._refused: set[str] = set()  # over a cap: refused again and again in a storm

    def grown(self, new: frozenset[str] | set[str]) -> list[str]:
        """The list with the new names it lacks appended in sorted order, as far as the caps allow."""
        added = sorted(new.difference(self.present, self._refused))
        if not added:
            return self.names
        if self._counts is None:
            if len(self.names) + len(added) <= self._per_kind:  # no kind can reach its cap
                self.present.update(added)
                return self._appended(added)
            # in C: a storm's entry holds thousands of names and is counted once per batch
            self._counts = Counter(_KINDS.findall("\n".join(self.names)))
        kept: list[str] = []
        for name in added:
            kind = kind_of(name)
            count = self._counts.get(kind, 0)
            if count < self._per_kind and len(self.names) + len(kept) < self._cap:
                self._counts[kind] = count + 1
                self.present.add(name)
                kept.append(name)
            else:
                self._refused.add(name)
        return self._appended(kept) if kept else self.names

    def _appended(self, added: list[str]) -> list[str]:
        if self._owned:
            self.names.extend(added)
        else:
            self.names, self._owned = [*self.names, *added], True
        return self.names
