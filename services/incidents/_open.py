"""The open-incident index during one batch of correlation: entries, and views of those that matter."""

from __future__ import annotations

from collections.abc import Iterable

from services.incidents._index import IndexEntry
from services.incidents._score import View

# How a batch's wanted names hold a group key (the correlator's ``wanted``).
GROUP_KEY = "group_key:"


class OpenEntries:
    """The index during one batch. Only entries that share a name with the batch (``wanted``: the
    batch's names but clusters) are turned into sets and scored; the others pass through untouched,
    so a storm's alert is scored against the few incidents it shares a name with. Which views hold a
    name is kept by name (entities, causes, group keys), so finding them costs what they are, not
    what the batch opened: a batch of a thousand unrelated alerts opens a thousand views. Only the
    batch's own names are kept so: an alert asks for no other, and a storm's incident holds thousands
    of names its next batch would otherwise file, one by one, each time."""

    def __init__(self, entries: list[IndexEntry], wanted: set[str]) -> None:
        """``entries``: a list the batch owns from now on (it grows as the batch opens incidents)."""
        self.entries = entries
        self.views: dict[int, View] = {}
        self.by_id = {entry.id: position for position, entry in enumerate(entries)}
        self._named: dict[str, set[int]] = {}  # an entity or cause -> the views holding it
        self._grouped: dict[str, set[int]] = {}  # a group key -> the views holding it
        self._dropped: set[int] = set()  # entries given up within the batch (``drop``)
        self._first_grown: int | None = None  # the lowest position ``replace`` grew in the batch
        self._wanted = wanted
        # The group keys wanted, without their prefix: compared with every entry's, every batch.
        self._wanted_keys = keys = {name[len(GROUP_KEY) :] for name in wanted if name.startswith(GROUP_KEY)}
        for position, entry in enumerate(entries):
            if not (
                wanted.isdisjoint(entry.entities)
                and wanted.isdisjoint(entry.causes)
                and wanted.isdisjoint(entry.root_causes)
                and keys.isdisjoint(entry.group_keys)
            ):
                self.view(position)

    def add(self, view: View) -> None:
        """The view of an entry the batch opened: looked at by the rest of the batch."""
        position = len(self.entries)
        self.entries.append(view.entry)
        self.by_id[view.entry.id] = position
        self.views[position] = view
        self._hold(position, view.entities, view.causes, view.entry.group_keys)

    def view(self, position: int) -> View:
        if position not in self.views:
            view = self.views[position] = View.of(self.entries[position])
            self._hold(position, view.entities, view.causes, view.entry.group_keys)
        return self.views[position]

    def _hold(
        self, position: int, entities: Iterable[str], causes: Iterable[str], keys: Iterable[str]
    ) -> None:
        wanted, named = self._wanted, self._named
        for name in (*entities, *causes):
            if name in wanted:
                holding = named.get(name)
                if holding is None:
                    named[name] = {position}
                else:
                    holding.add(position)
        for key in keys:
            if key in self._wanted_keys:
                self._grouped.setdefault(key, set()).add(position)

    def replace(self, position: int, entry: IndexEntry) -> None:
        """``entry`` is the view's entry grown (its lists only ever get names appended, and the view's
        ``Names`` have grown its entities already)."""
        view = self.view(position)
        # the root's causes are held already, unless a new root brought them (a list of its own)
        root_causes = entry.root_causes if entry.root_causes is not view.entry.root_causes else []
        view.entry = self.entries[position] = entry
        if self._first_grown is None or position < self._first_grown:
            self._first_grown = position
        causes = [*entry.causes[view.held_causes :], *root_causes]
        view.causes.update(causes)
        entities = entry.entities[view.held_entities :]
        view.namespaced = view.namespaced or any(name.startswith("namespace=") for name in entities)
        self._hold(position, entities, causes, entry.group_keys[view.held_keys :])
        view.held_entities, view.held_causes = len(entry.entities), len(entry.causes)
        view.held_keys = len(entry.group_keys)

    def drop(self, position: int) -> None:
        """The entry leaves the index: nothing finds it any more, and ``kept`` omits it."""
        self._dropped.add(position)
        view = self.view(position)
        del self.by_id[view.entry.id]
        for name in (*view.entities, *view.causes):
            self._named.get(name, set()).discard(position)
        for key in view.entry.group_keys:
            self._grouped.get(key, set()).discard(position)

    def grew_below(self, position: int) -> bool:
        """Whether the batch grew an entry at a position below ``position`` (one it found open)."""
        return self._first_grown is not None and self._first_grown < position

    def kept(self) -> list[IndexEntry]:
        """The entries, those dropped within the batch left out."""
        return [entry for i, entry in enumerate(self.entries) if i not in self._dropped]

    def holding(self, name: str) -> set[int]:
        """The views holding ``name`` among their entities or causes."""
        return self._named.get(name, set())

    def sharing(self, names: frozenset[str], group_key: str) -> list[int]:
        """The entries sharing one of ``names`` (an alert's, clusters aside) or its group key."""
        found: set[int] = set()
        for name in names:
            held = self._named.get(name)
            if held:
                found.update(held)
        if group_key and group_key in self._grouped:
            found.update(self._grouped[group_key])
        return sorted(found)
