"""What correlation decides on the storm scenarios, as text: ``python -m tests.support.correlation_trace``.

The first line says how correlation ran (services/compiled.py); the rest must not depend on it. Per storm:
the index each batch leaves behind, encoded as the key-value store holds it, every assignment with its
score, then the whole lifecycle's run (each episode's incident and every event a person would get).
"""

from __future__ import annotations

import sys
from itertools import groupby

import msgspec

from bench.storms._scenario import load_storms
from services import compiled
from services.incidents import Correlator, IncidentSettings, OpenIndex
from services.incidents._simulate import simulate


def main() -> int:
    settings = IncidentSettings()
    out = sys.stdout
    out.write(compiled.describe() + "\n")
    for storm in load_storms():
        out.write(f"== {storm.name}\n")
        correlator = Correlator(settings, storm.topology)
        index = OpenIndex()
        for at, batch in groupby(sorted(storm.arrivals, key=lambda a: a.at), key=lambda a: a.at):
            index, assignments = correlator.assign(index, [arrival.message for arrival in batch], at)
            for assignment in assignments:
                out.write(msgspec.json.encode(assignment).decode() + "\n")
            out.write(msgspec.json.encode(index).decode() + "\n")
        run = simulate(storm.arrivals, settings, storm.topology)
        for episode, incident in sorted(run.incident_of.items()):
            out.write(f"{episode} -> {incident}\n")
        for note in run.notifications:
            out.write(f"{note.at.isoformat()} {note.kind} {note.incident} llm={note.llm} {note.changes}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
