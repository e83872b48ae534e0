"""The open-incident index during one batch of correlation: entries, and views of those that matter."""

from __future__ import annotations

from services.incidents._index import IndexEntry
from services.incidents._score import View


class OpenEntries:
    """The index during one batch. Only entries that share a name with the batch (``wanted``: the
    batch's names but clusters) are turned into sets and scored; the others pass through untouched,
    so a storm's alert is scored against the few incidents it shares a name with."""

    def __init__(self, entries: list[IndexEntry], wanted: set[str]) -> None:
        self.entries: list[IndexEntry] = []
        self.views: dict[int, View] = {}
        self.by_id: dict[str, int] = {}
        for entry in entries:
            self.add(entry, wanted)

    def add(self, entry: IndexEntry, wanted: set[str] | None = None) -> None:
        position = len(self.entries)
        self.entries.append(entry)
        self.by_id[entry.id] = position
        if wanted is None or not (
            wanted.isdisjoint(entry.entities)
            and wanted.isdisjoint(entry.causes)
            and wanted.isdisjoint(entry.root_causes)
            and wanted.isdisjoint(f"group_key:{key}" for key in entry.group_keys)
        ):
            self.view(position)

    def view(self, position: int) -> View:
        if position not in self.views:
            self.views[position] = View.of(self.entries[position])
        return self.views[position]

    def replace(self, position: int, entry: IndexEntry) -> None:
        """``entry`` is the view's entry grown (its lists only ever get names appended, and the view's
        ``Names`` have grown its entities already)."""
        view = self.view(position)
        before = view.entry
        view.entry = self.entries[position] = entry
        view.causes.update(entry.causes[len(before.causes) :], entry.root_causes)

    def sharing(self, names: frozenset[str], group_key: str) -> list[int]:
        """The entries sharing one of ``names`` (an alert's, clusters aside) or its group key."""
        return [
            position
            for position, view in sorted(self.views.items())
            if not names.isdisjoint(view.entities)
            or not names.isdisjoint(view.causes)
            or (group_key and group_key in view.entry.group_keys)
        ]
