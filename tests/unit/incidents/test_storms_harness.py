"""The storm harness itself: scenario files, Alertmanager's delivery, the simulation and the scores.

Grouping here is either the scenarios' own answer (TruthGrouping) or the override label, which the
correlator's contract makes decisive: these tests check what the benchmark counts, not how well the
correlator groups (test_storms_benchmark.py does that).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bench.storms._oracle import TruthGrouping
from bench.storms._scenario import DIRECTORY, EPOCH, PIPELINE_SECONDS, Storm, load_storm, load_storms
from bench.storms._score import pair_score, wrong_pairs
from bench.storms._shown import shown
from services.incidents import IncidentSettings
from services.incidents._simulate import Notification, Run, simulate

SETTINGS = IncidentSettings(incidents_enabled=True)

STORM = """
name: a small storm
modelled_on: a test
external_labels: {cluster: test}
alertmanager: {group_by: [alertname], group_wait: 30, group_interval: 300}
recovered_at: 900
alerts:
  - incident: node
    at: 0
    labels: {alertname: KubeNodeNotReady, node: n1, severity: warning}
  - incident: node
    at: 10
    repeat: 3
    every: 20
    labels: {alertname: KubePodNotReady, namespace: "{a|b}", pod: "p-{i}", severity: warning}
  - incident: job
    at: 5
    flap: {times: 2, up: 60, down: 60}
    labels: {alertname: KubeJobFailed, namespace: c, job_name: j, severity: warning}
"""


def _storm(tmp_path: Path, text: str = STORM) -> Storm:
    path = tmp_path / "storm.yaml"
    path.write_text(text, encoding="utf-8")
    return load_storm(path)


def test_repeat_and_flap_expand_into_alerts_with_their_true_incident(tmp_path: Path) -> None:
    storm = _storm(tmp_path)
    firing = [a for a in storm.arrivals if a.message.alert.status == "firing"]
    pods = sorted(
        a.message.alert.labels["pod"] for a in firing if a.truth == "node" and "pod" in a.message.alert.labels
    )
    assert pods == ["p-0", "p-1", "p-2"]
    namespaces = [
        a.message.alert.labels["namespace"] for a in firing if a.message.alert.labels.get("pod") == "p-2"
    ]
    assert namespaces == ["a"]  # {a|b} cycles with the copy's index
    job_starts = sorted(a.message.alert.starts_at for a in firing if a.truth == "job")
    assert job_starts == [EPOCH + timedelta(seconds=5), EPOCH + timedelta(seconds=125)]
    assert all(a.message.alert.labels["cluster"] == "test" for a in storm.arrivals)
    assert storm.causes == 2


def test_alerts_arrive_as_alertmanager_sends_them_first_after_group_wait_then_on_group_interval(
    tmp_path: Path,
) -> None:
    storm = _storm(tmp_path)
    sent = sorted(
        (a.message.received_at - EPOCH).total_seconds()
        for a in storm.arrivals
        if a.message.alert.labels["alertname"] == "KubePodNotReady" and a.message.alert.status == "firing"
    )
    # The group's first alert starts at 10 s: sent at 40 s with the one of 30 s;
    # the one of 50 s waits for the next tick, 340 s.
    assert sent == [40.0, 40.0, 340.0]
    assert all(a.at - a.message.received_at == timedelta(seconds=PIPELINE_SECONDS) for a in storm.arrivals)
    keys = {a.message.group.group_key for a in storm.arrivals}
    assert '{}:{alertname="KubePodNotReady"}' in keys


def test_a_misspelt_key_is_refused_rather_than_changing_the_storm(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repat"):
        _storm(tmp_path, STORM.replace("repeat: 3", "repat: 3"))


def test_an_alert_ending_before_it_starts_is_refused(tmp_path: Path) -> None:
    bad = STORM.replace("recovered_at: 900", "recovered_at: 20")
    with pytest.raises(ValueError, match="ends"):
        _storm(tmp_path, bad)


def test_perfect_grouping_opens_each_incident_once_after_the_wait_and_resolves_it_after_the_grace(
    tmp_path: Path,
) -> None:
    storm = _storm(tmp_path)
    run = simulate(storm.arrivals, SETTINGS, assigner=TruthGrouping(storm.arrivals))
    opened = [n for n in run.notifications if n.kind == "opened"]
    assert len(opened) == 2
    assert len({n.incident for n in opened}) == 2
    assert run.first_notification == timedelta(
        seconds=PIPELINE_SECONDS + SETTINGS.incident_group_wait_seconds
    )
    assert run.count("resolved") == 2
    node = run.incident_of[next(e for e, truth in run.truth_of.items() if truth == "node")]
    last_resolution = max(
        a.at for a in storm.arrivals if a.message.alert.status == "resolved" and a.truth == "node"
    )
    resolved = next(n for n in run.notifications if n.kind == "resolved" and n.incident == node)
    assert resolved.at == last_resolution + timedelta(seconds=SETTINGS.incident_resolve_grace_seconds)
    assert pair_score(run).precision == pair_score(run).recall == 1.0
    # One LLM call per incident, more only for material changes, never more than the bound.
    assert 2 <= run.llm_calls <= 2 * SETTINGS.incident_max_analyses


def test_a_flapping_alert_resolves_its_incident_and_reopens_it(tmp_path: Path) -> None:
    storm = _storm(
        tmp_path,
        """
name: one flapping alert
modelled_on: a test
alertmanager: {group_by: [alertname], group_wait: 0, group_interval: 10}
alerts:
  - incident: link
    flap: {times: 2, up: 60, down: 400}
    labels: {alertname: NodeNetworkInterfaceFlapping, instance: "h1:9100", severity: warning}
""",
    )
    run = simulate(storm.arrivals, SETTINGS, assigner=TruthGrouping(storm.arrivals))
    assert [(n.kind, "reopened" in n.changes) for n in run.notifications] == [
        ("opened", False),
        ("resolved", False),
        ("updated", True),
        ("resolved", False),
    ]
    assert len({n.incident for n in run.notifications}) == 1


def test_the_override_label_groups_a_storm_through_the_real_correlator(tmp_path: Path) -> None:
    text = STORM.replace("severity: warning}", "severity: warning, incident_key: outage-42}")
    storm = _storm(tmp_path, text)
    run = simulate(storm.arrivals, SETTINGS)
    assert len(set(run.incident_of.values())) == 1
    score = pair_score(run)
    assert score.recall == 1.0
    assert score.precision < 1.0


def test_pair_scores_and_wrong_pairs_count_exactly() -> None:
    run = Run(
        incident_of={"a": "i1", "b": "i1", "c": "i1", "d": "i2"},
        truth_of={"a": "x", "b": "x", "c": "y", "d": "x"},
    )
    score = pair_score(run)
    # predicted pairs ab, ac, bc; true pairs ab, ad, bd; together: ab
    assert (score.together, score.predicted, score.true) == (1, 3, 3)
    assert score.precision == pytest.approx(1 / 3)
    assert score.recall == pytest.approx(1 / 3)
    merged, split = wrong_pairs(run, {"a": "A", "b": "B", "c": "C", "d": "D"})
    assert sum(merged.values()) == 2
    assert sum(split.values()) == 2
    assert merged["A[x] + C[y]"] == 1
    assert split["A[x] + D[x]"] == 1


def test_a_person_sees_the_opening_and_needed_updates_at_most_once_per_interval() -> None:
    t0 = EPOCH
    notes = [
        Notification(t0, "opened", "i", llm=True, changes=("opened",)),
        Notification(t0 + timedelta(seconds=30), "updated", "i", llm=False, changes=("members",)),
        Notification(t0 + timedelta(seconds=60), "updated", "i", llm=True, changes=("members", "severity")),
        Notification(t0 + timedelta(seconds=90), "updated", "i", llm=True, changes=("root",)),
        Notification(t0 + timedelta(seconds=400), "updated", "i", llm=False, changes=("reopened",)),
        Notification(t0 + timedelta(seconds=900), "resolved", "i", llm=False, changes=("resolved",)),
    ]
    # opened; severity at 60 s held until 300 s and carrying the root at 90 s; reopened at 400 s
    # waits for 600 s: three posts before the resolution.
    assert shown(Run(notifications=notes), update_seconds=300) == 3


def test_a_root_said_more_precisely_is_no_new_post() -> None:
    t0 = EPOCH
    refined = Notification(t0 + timedelta(seconds=400), "updated", "i", False, ("root",), root_refined=True)
    moved = Notification(t0 + timedelta(seconds=800), "updated", "i", False, ("root",))
    opened = Notification(t0, "opened", "i", llm=True, changes=("opened",))
    assert shown(Run(notifications=[opened, refined]), update_seconds=300) == 1
    assert shown(Run(notifications=[opened, refined, moved]), update_seconds=300) == 2


def test_the_benchmark_has_the_issues_scenarios_each_with_unrelated_alerts() -> None:
    storms = load_storms(DIRECTORY)
    assert len(storms) >= 24
    for storm in storms:
        assert storm.modelled_on, f"{storm.path.name} says nothing of the failure it is modelled on"
        assert storm.causes >= 2, f"{storm.path.name} has no unrelated alerts"
    firing = [sum(1 for a in s.arrivals if a.message.alert.status == "firing") for s in storms]
    assert max(firing) >= 500
