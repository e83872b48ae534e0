"""An incident's life as its events tell it: opened once, updated in batches, resolved, reopened."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

import schemas
from services.incidents import (
    IncidentSettings,
    IncidentState,
    Joining,
    after_sent,
    event,
    incident,
    join,
    material,
    resolve_member,
    review_due,
    with_analysis,
)
from tests.unit.incidents._alerts import T0, enriched

SETTINGS = IncidentSettings(incidents_enabled=True)
ID = "inc-000000000001"


def member(message: schemas.EnrichedAlert) -> schemas.IncidentMember:
    alert = message.alert
    return schemas.IncidentMember(
        alert_id=message.id,
        alertname=alert.labels["alertname"],
        status=alert.status,
        severity=alert.labels.get("severity", ""),
        starts_at=alert.starts_at,
        labels=dict(alert.labels),
    )


def add(
    state: IncidentState | None,
    message: schemas.EnrichedAlert,
    at: float,
    *,
    role: schemas.MemberRole = "caused",
    new_root: bool = False,
    refines: bool = False,
    sequence: int = 0,
) -> IncidentState:
    episode = schemas.episode_key(message.alert)
    joining = Joining(
        episode, ID, role, ("node", "time"), new_root=new_root, refines=refines, sequence=sequence
    )
    return join(state, member(message), joining, T0 + timedelta(seconds=at))


def pod_alert(n: int, at: float = 0.0, **labels: str) -> schemas.EnrichedAlert:
    return enriched(
        "KubePodNotReady", at=at, pod=f"web-{n}", node="ip-10-0-1-7", severity="warning", labels=labels
    )


def node_down(at: float = 0.0) -> schemas.EnrichedAlert:
    return enriched("KubeNodeNotReady", at=at, node="ip-10-0-1-7", severity="critical")


def analysed(state: IncidentState, at: float) -> tuple[IncidentState, schemas.IncidentEvent]:
    """What the review consumer does when a review of ``state`` falls due."""
    now = T0 + timedelta(seconds=at)
    kind: schemas.IncidentEventKind = "opened" if state.sequence == 0 else "updated"
    if state.analysis is None or material(state):
        llm = state.llm_calls < SETTINGS.incident_max_analyses
        state = with_analysis(state, analysis(state.member_count), llm=llm)
    return event(state, kind, now)


def analysis(members: int) -> schemas.Analysis:
    return schemas.Analysis(
        summary=f"node down explains {members}",
        root_cause="node",
        category="availability",
        confidence=0.9,
        analyzer="llm",
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_alert_opens_an_incident_that_waits_for_its_group() -> None:
    state = add(None, node_down(), 0, role="root")
    review = review_due(state, SETTINGS, at(0))
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"
    assert (state.member_count, state.firing_count, state.pending) == (1, 1, ["opened"])
    assert review is not None
    assert review.kind == "analyse"
    assert review.due == at(SETTINGS.incident_group_wait_seconds)


def test_a_member_joining_twice_is_counted_once() -> None:
    state = add(None, node_down(), 0, role="root")
    pod = pod_alert(1)
    once = add(state, pod, 1)
    twice = add(once, pod, 2)
    assert twice is once
    assert (twice.member_count, twice.firing_count) == (2, 2)


def test_a_storm_of_500_members_keeps_counts_and_lists_at_most_the_limit() -> None:
    state = add(None, node_down(), 0, role="root")
    for n in range(499):
        state = add(state, pod_alert(n, at=n / 10), n / 10)
    view = incident(state)
    assert view.member_count == 500
    assert view.firing_count == 500
    assert len(view.members) == schemas.MAX_LISTED_MEMBERS
    assert view.members[0] == view.root
    assert view.root is not None
    assert view.root.alertname == "KubeNodeNotReady"
    assert view.alertnames == {"KubeNodeNotReady": 1, "KubePodNotReady": 499}
    assert view.scope == {"node": "ip-10-0-1-7"}
    assert view.title == "KubeNodeNotReady on node=ip-10-0-1-7 and 499 related alerts"
    assert len(msgspec.json.encode(state)) < 64_000


def test_a_storm_of_500_alerts_over_a_minute_yields_a_handful_of_events() -> None:
    state: IncidentState | None = None
    events: list[schemas.IncidentEvent] = []
    review: schemas.IncidentReview | None = None
    for second in range(60):  # one batch a second, ~8 alerts each
        for n in range(second * 500 // 60, (second + 1) * 500 // 60):
            state = add(state, pod_alert(n, at=second), second)
        assert state is not None
        review = review_due(state, SETTINGS, at(second)) or review
        if review is not None and review.due <= at(second) and review.generation == state.generation:
            state, sent = analysed(state, second)
            events.append(sent)
            review = None
    assert state is not None
    assert state.member_count == 500
    assert events[0].event == "opened"
    assert events[0].sequence == 1
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert 2 <= len(events) <= 4
    assert state.llm_calls <= SETTINGS.incident_max_analyses


def test_a_new_root_is_a_material_change_announced_without_waiting() -> None:
    state = add(None, pod_alert(1), 0, role="root")
    state, _ = analysed(state, 5)
    state = add(state, node_down(at=8), 8, role="root", new_root=True)
    review = review_due(state, SETTINGS, at(8))
    assert material(state)
    assert set(state.pending) == {"members", "root", "severity"}
    assert review is not None
    assert review.due == at(8)
    assert state.root is not None
    assert state.root.alertname == "KubeNodeNotReady"
    assert [m.role for m in state.members] == ["caused", "root"]
    assert state.exemplars[0].alertname == "KubeNodeNotReady"
    state, sent = analysed(state, 8)
    assert sent.event == "updated"
    assert set(sent.changes) >= {"root", "severity", "analysis"}
    assert state.llm_calls == 2


def test_new_members_wait_for_the_update_interval_even_when_they_double_the_incident() -> None:
    state = add(None, node_down(), 0, role="root")
    state, _ = analysed(state, 5)
    for n in range(12):
        state = add(state, pod_alert(n, at=6), 6)
    review = review_due(state, SETTINGS, at(6))
    assert not material(state)  # more of the same kinds: counts in the next update, no new analysis
    assert review is not None
    assert review.due == at(5 + SETTINGS.incident_update_seconds)


def test_every_member_resolved_resolves_the_incident_after_the_grace() -> None:
    down, pod = node_down(), pod_alert(1)
    state = add(add(None, down, 0, role="root"), pod, 0)
    state, _ = analysed(state, 5)
    state = resolve_member(state, schemas.episode_key(down.alert), at(50), at(60), SETTINGS)
    assert review_due(state, SETTINGS, at(60)) is None  # one member still fires
    state = resolve_member(state, schemas.episode_key(pod.alert), None, at(70), SETTINGS)
    review = review_due(state, SETTINGS, at(70))
    assert review is not None
    assert review.kind == "resolve"
    assert review.due == at(70 + SETTINGS.incident_resolve_grace_seconds)
    state, sent = event(state, "resolved", at(200))
    assert sent.event == "resolved"
    assert sent.changes == ["resolved"]
    assert sent.incident.status == "resolved"
    assert sent.incident.firing_count == 0
    assert all(m.status == "resolved" for m in sent.incident.members)
    assert review_due(state, SETTINGS, at(200)) is None


def test_a_resolution_delivered_twice_is_applied_once() -> None:
    down, pod = node_down(), pod_alert(1)
    state = add(add(None, down, 0, role="root"), pod, 0)
    episode = schemas.episode_key(pod.alert)
    once = resolve_member(state, episode, None, at(10), SETTINGS)
    twice = resolve_member(once, episode, None, at(11), SETTINGS)
    assert twice is once
    assert twice.firing_count == 1


def test_a_member_firing_again_within_the_grace_keeps_the_incident_open() -> None:
    down = node_down()
    state = add(None, down, 0, role="root")
    state, _ = analysed(state, 5)
    state = resolve_member(state, schemas.episode_key(down.alert), None, at(10), SETTINGS)
    state = add(state, node_down(at=20), 20)
    review = review_due(state, SETTINGS, at(20))
    assert state.grace_until is None
    assert state.status == "open"
    assert review is not None
    assert review.kind == "analyse"


def test_a_related_alert_after_resolution_reopens_the_same_incident() -> None:
    down = node_down()
    state = add(None, down, 0, role="root")
    state, _ = analysed(state, 5)
    state = resolve_member(state, schemas.episode_key(down.alert), None, at(10), SETTINGS)
    state, resolved = event(state, "resolved", at(200))
    state = add(state, node_down(at=600), 600)
    review = review_due(state, SETTINGS, at(600))
    assert state.status == "open"
    assert material(state)
    assert review is not None
    assert review.due == at(600)
    state, sent = analysed(state, 600)
    assert sent.event == "updated"
    assert "reopened" in sent.changes
    assert sent.incident.id == resolved.incident.id == ID
    assert sent.sequence == resolved.sequence + 1


def test_an_incident_resolved_within_its_grouping_wait_is_opened_before_it_resolves() -> None:
    down = node_down()
    state = add(None, down, 0, role="root")
    state = resolve_member(state, schemas.episode_key(down.alert), None, at(2), SETTINGS)
    first = review_due(state, SETTINGS, at(2))
    assert first is not None
    assert first.kind == "analyse"
    state, sent = analysed(state, 5)
    after = review_due(state, SETTINGS, at(5))
    assert sent.event == "opened"
    assert after is not None
    assert after.kind == "resolve"


def test_members_joining_while_an_event_is_sent_stay_pending_for_the_next() -> None:
    state = add(None, node_down(), 0, role="root")
    generation = state.generation
    sent_state, _ = analysed(state, 5)
    meanwhile = add(state, pod_alert(1, at=5), 5)
    recorded = after_sent(meanwhile, sent_state)
    assert recorded.sequence == 1
    assert recorded.member_count == 2
    assert recorded.analysed_generation == generation < recorded.generation
    assert recorded.pending == ["members"]  # "opened" was told by the event
    assert review_due(recorded, SETTINGS, at(5)) is not None


def test_a_new_root_told_by_an_event_is_not_told_again_when_members_joined_meanwhile() -> None:
    state = add(None, pod_alert(1), 0, role="root")
    state, _ = analysed(state, 5)
    state = add(state, node_down(at=8), 8, role="root", new_root=True)
    sent_state, sent = analysed(state, 8)
    meanwhile = add(state, pod_alert(2, at=8), 8)
    recorded = after_sent(meanwhile, sent_state)
    review = review_due(recorded, SETTINGS, at(8))
    assert "root" in sent.changes
    assert recorded.pending == ["members"]
    assert not material(recorded)
    assert review is not None
    assert review.due == at(8 + SETTINGS.incident_update_seconds)  # batched, not at once


def test_an_event_says_whether_every_root_change_since_the_last_one_kept_the_subject() -> None:
    state = add(None, node_down(), 0, role="root")
    state, _ = analysed(state, 5)
    pressure = enriched("KubeNodePressure", at=8, node="ip-10-0-1-7", severity="warning")
    state = add(state, pressure, 8, role="root", new_root=True, refines=True)
    state, refined = analysed(state, 8)
    assert "root" in refined.changes
    assert refined.root_refined
    # A refinement, then a move to another subject before the next event: that event moved the root.
    memory = enriched("NodeMemoryHighUtilization", at=20, node="ip-10-0-1-7", severity="warning")
    state = add(state, memory, 20, role="root", new_root=True, refines=True)
    state = add(state, enriched("PostgresqlDown", at=21, service="db"), 21, role="root", new_root=True)
    state, moved = analysed(state, 21)
    assert "root" in moved.changes
    assert not moved.root_refined
    # Members only: no root change, nothing to refine.
    state = add(state, pod_alert(3, at=60), 60)
    _, members = analysed(state, 60)
    assert (members.changes, members.root_refined) == (["members"], False)


def test_a_state_that_does_not_say_when_its_root_last_moved_reports_a_moved_root() -> None:
    # Written before root_moved_at existed, or by a replica that drops it: "refined" is never guessed.
    state = add(None, node_down(), 0, role="root")
    state, _ = analysed(state, 5)
    state = msgspec.structs.replace(state, root_moved_at=None)
    pressure = enriched("KubeNodePressure", at=8, node="ip-10-0-1-7", severity="warning")
    state = add(state, pressure, 8, role="root", new_root=True, refines=True)
    _, sent = analysed(state, 8)
    assert "root" in sent.changes
    assert not sent.root_refined


def test_only_a_new_root_or_a_reopening_is_worth_a_new_analysis() -> None:
    state = add(None, pod_alert(0), 0, role="root")
    state, _ = analysed(state, 5)
    for n in range(1, 40):
        state = add(state, pod_alert(n, at=6), 6)
    assert not material(state)  # forty times the members, the same cause: the counts say it
    state = add(state, node_down(), 7, role="root", new_root=True)
    assert "root" in state.pending
    assert material(state)  # another alert now names the cause: the explanation changes


def test_exemplars_keep_the_root_and_four_other_alert_names() -> None:
    state = add(None, node_down(), 0, role="root")
    for n, name in enumerate(["A", "B", "B", "C", "D", "E", "F"]):
        state = add(state, enriched(name, at=n, node="ip-10-0-1-7"), n)
    assert [e.alertname for e in state.exemplars] == ["KubeNodeNotReady", "A", "B", "C", "D"]


def test_a_root_giving_way_stays_an_exemplar_found_where_the_stream_keeps_it() -> None:
    state = add(None, pod_alert(1), 0, role="root", sequence=11)
    state = add(state, node_down(at=1), 1, role="root", new_root=True, sequence=12)
    assert [(e.alertname, e.sequence) for e in state.exemplars] == [
        ("KubeNodeNotReady", 12),
        ("KubePodNotReady", 11),
    ]
    # A root copied to its slot's key by the version before (no sequence) is replaced there.
    state = add(None, pod_alert(1), 0, role="root")
    state = add(state, node_down(at=1), 1, role="root", new_root=True, sequence=12)
    assert [(e.alertname, e.sequence) for e in state.exemplars] == [("KubeNodeNotReady", 12)]
