"""The bound that spares the correlator scoring an alert against incidents it cannot join.

``may_reach`` must never leave out an incident whose score reaches the threshold: grouping would
change. Checked on every alert of every storm scenario against every incident open when it
arrives, as the correlator grew them (one-alert incidents and storms' of hundreds of names).
"""

from __future__ import annotations

from bench.storms._scenario import load_storms
from services.incidents import Correlator, IncidentSettings
from services.incidents._index import OpenIndex
from services.incidents._score import THRESHOLD, View, may_reach, score


def test_an_incident_the_bound_leaves_out_never_scores_at_the_threshold() -> None:
    settings = IncidentSettings(incidents_enabled=True)
    left_out = reaching = 0
    for storm in load_storms():
        correlator = Correlator(settings, storm.topology)
        index = OpenIndex(entries=[])
        for arrival in storm.arrivals:
            message = arrival.message
            if message.alert.status == "firing":
                print_ = correlator.footprint(message)
                for entry in index.entries:
                    view = View.of(entry)
                    reaches = score(print_, view).value >= THRESHOLD
                    assert may_reach(print_, view) or not reaches, (
                        storm.name,
                        entry.id,
                        message.alert.labels,
                    )
                    left_out += not may_reach(print_, view)
                    reaching += reaches
            index, _ = correlator.assign(index, [message], arrival.at)
    # Not a bound that keeps everything, nor a test that never meets a join.
    assert left_out > reaching > 100
