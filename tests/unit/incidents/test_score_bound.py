"""The bound that spares the correlator scoring an alert against incidents it cannot join.

``may_reach`` must never leave out an incident whose score reaches the threshold: grouping would
change. Checked on every alert of every storm scenario against every incident open when it
arrives, as the correlator grew them (one-alert incidents and storms' of hundreds of names), and
on the weights the scenarios do not meet alone.
"""

from __future__ import annotations

from bench.storms._scenario import load_storms
from schemas import EnrichedAlert
from services.incidents import Correlator, IncidentSettings
from services.incidents._index import OpenIndex
from services.incidents._score import THRESHOLD, View, may_reach, score
from tests.unit.incidents._alerts import T0, enriched


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
                    kept = may_reach(print_, view)
                    assert kept or not reaches, (storm.name, entry.id, message.alert.labels)
                    left_out += not kept
                    reaching += reaches
            index, _ = correlator.assign(index, [message], arrival.at)
    # Not a bound that keeps everything, nor a test that never meets a join.
    assert left_out > reaching > 100


def _joined(first: EnrichedAlert, second: EnrichedAlert) -> tuple[str, tuple[str, ...]]:
    """Whether ``second``, placed a batch after ``first``, joins its incident, and by what."""
    correlator = Correlator(IncidentSettings(incidents_enabled=True))
    index, (opened,) = correlator.assign(OpenIndex(), [first], T0)
    _, (placed,) = correlator.assign(index, [second], second.alert.starts_at)
    return ("joined" if placed.incident_id == opened.incident_id else "apart"), placed.signals


def test_alerts_grouped_by_a_label_that_places_them_join_by_that_alone() -> None:
    group = {"group_key": '{}:{datacenter="dc-2"}', "group_labels": {"datacenter": "dc-2"}}
    first = enriched("HighErrorRate", group=group, namespace="api", service="checkout")
    second = enriched("HighLatency", at=30, group=group, namespace="web", service="storefront")
    assert _joined(first, second) == ("joined", ("group_key", "time"))


def test_services_failing_on_the_resolver_join_by_that_alone() -> None:
    # One resolver fails for everyone: that class weighs 0.6 (SHARED_SYMPTOMS), another symptom 0.45.
    first = enriched("ProbeFailed", summary="lookup orders.internal: no such host", namespace="api")
    second = enriched("ProbeFailed", at=30, summary="lookup users.internal: no such host", namespace="web")
    assert _joined(first, second) == ("joined", ("symptom", "time"))
