"""``aiops tail --incidents`` and ``aiops replay --incidents``: incident events read and replayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst, root_exemplar
from services.runtime import NatsSettings, ensure_stream
from tests.integration.cli.conftest import aiops
from tests.support.nats_server import NatsServer
from tests.support.stream import read_subject, subject_count, wait_for_count
from tests.unit.analyst.test_incident_prompt import NODE, storm

KINDS: tuple[schemas.IncidentEventKind, ...] = ("opened", "updated", "resolved")


def _events() -> list[schemas.IncidentEvent]:
    """One node-down incident's three events, as the analyst's incidents consumer publishes them."""
    incident, exemplars = storm(500)
    root, _ = root_exemplar(incident, exemplars)
    analysis = IncidentAnalyst(RulesAnalyst(), AnalystMetrics(CollectorRegistry())).explain_by_rules(
        incident, root
    )
    now = datetime.now(UTC)
    incident = msgspec.structs.replace(incident, analysis=analysis)
    resolved = msgspec.structs.replace(incident, status="resolved", resolved_at=now, firing_count=0)
    return [
        schemas.IncidentEvent(event="opened", sequence=1, changes=["opened"], incident=incident, sent_at=now),
        schemas.IncidentEvent(
            event="updated",
            sequence=2,
            changes=["members"],
            incident=incident,
            sent_at=now + timedelta(seconds=1),
        ),
        schemas.IncidentEvent(
            event="resolved",
            sequence=3,
            changes=["resolved"],
            incident=resolved,
            sent_at=now + timedelta(seconds=2),
        ),
    ]


async def _store(nc: Client, url: str, events: list[schemas.IncidentEvent]) -> JetStreamContext:
    js = nc.jetstream()
    await ensure_stream(js, NatsSettings(nats_url=url))
    for event in events:
        await js.publish(
            schemas.incident_subject(event.event),
            schemas.encode(event),
            headers={schemas.MSG_ID_HEADER: event.id},
        )
    # An alert on alerts.analyzed is not an incident event: tail --incidents must not show it.
    _, exemplars = storm(500)
    analyzed = schemas.analyzed(exemplars[1], RulesAnalyst().analyze(exemplars[1]), datetime.now(UTC))
    await js.publish(schemas.ANALYZED, schemas.encode(analyzed))
    return js


async def test_tail_incidents_prints_each_event_with_its_root_counts_and_analysis(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await _store(nc, nats_server.url, _events())
        shown = await aiops(nats_server.url, "tail", "--incidents", "--since", "1h", "-n", "3")
        raw = await aiops(nats_server.url, "tail", "--incidents", "--since", "1h", "-n", "1", "--json")
    finally:
        await nc.close()

    assert shown.code == 0, shown.stderr
    text = shown.stdout
    heads = [line for line in text.splitlines() if line.startswith("[")]
    assert [head.split()[1:4] for head in heads] == [
        ["inc-0123456789ab", "OPENED", "#1"],
        ["inc-0123456789ab", "UPDATED", "#2"],
        ["inc-0123456789ab", "RESOLVED", "#3"],
    ]
    assert heads[0].endswith(f"· critical · KubeNodeNotReady on {NODE}")
    assert f"  root: KubeNodeNotReady cluster=prod node={NODE} (firing)" in text
    assert "  members: 500 (500 firing): 400 KubePodNotReady, 60 TargetDown, 1 KubeNodeNotReady" in text
    assert "  members: 500 (0 firing)" in text
    assert "  changes: members" in text
    assert "  analysis (rules): KubeNodeNotReady on ip-10-0-1-7" in text
    assert "explains 499 other alerts" in text
    assert f"The root alert, KubeNodeNotReady on {NODE}" in text
    # The per-alert message on alerts.analyzed is not an incident.
    assert "checkout-1" not in text
    assert raw.code == 0, raw.stderr
    # -n 1: the newest event of the window.
    assert schemas.decode(raw.stdout.strip().encode(), schemas.IncidentEvent).id == "inc-0123456789ab:3"


async def test_replay_incidents_republishes_each_event_marked_to_its_own_subject(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = await _store(nc, nats_server.url, _events())
        listed = await aiops(nats_server.url, "replay", "--incidents", "--since", "1h", "--dry-run")
        opened_only = await aiops(
            nats_server.url, "replay", "--subject", "alerts.incidents.opened", "--since", "1h", "--dry-run"
        )
        elsewhere = await aiops(
            nats_server.url,
            "replay",
            "--incidents",
            "--since",
            "1h",
            "--match",
            "node=elsewhere",
            "--dry-run",
        )
        reanalyze = await aiops(nats_server.url, "replay", "--incidents", "--since", "1h", "--reanalyze")
        assert [await subject_count(js, schemas.incident_subject(kind)) for kind in KINDS] == [1, 1, 1]

        replayed = await aiops(
            nats_server.url, "replay", "--incidents", "--since", "1h", "--match", f"node={NODE}"
        )
        for kind in KINDS:
            await wait_for_count(js, schemas.incident_subject(kind), 2)
        again = await aiops(nats_server.url, "replay", "--incidents", "--since", "1h", "--notify")
        stored = {
            kind: await read_subject(js, schemas.incident_subject(kind), schemas.IncidentEvent, count=3)
            for kind in KINDS
        }
    finally:
        await nc.close()

    assert listed.code == 0, listed.stderr
    assert [line.split()[2:4] for line in listed.stdout.splitlines() if line.startswith("would replay")] == [
        ["inc-0123456789ab:1", "opened"],
        ["inc-0123456789ab:2", "updated"],
        ["inc-0123456789ab:3", "resolved"],
    ]
    assert "3 incident event(s) selected from alerts.incidents.>" in listed.stdout
    assert "1 incident event(s) selected from alerts.incidents.opened" in opened_only.stdout
    assert "0 incident event(s) selected" in elsewhere.stdout
    assert reanalyze.code != 0
    assert "incident events carry their analysis" in reanalyze.stderr

    assert replayed.code == 0, replayed.stderr
    assert "3 incident event(s) replayed as" in replayed.stdout
    # The second run replays the three originals, not the first run's replays of them.
    assert "3 incident event(s) replayed as" in again.stdout
    assert "3 skipped" in again.stdout
    for kind, (original, first, second) in stored.items():
        assert original.replay is None
        assert first.replay is not None
        assert second.replay is not None
        assert first.replay.id != second.replay.id
        assert (first.replay.notify, second.replay.notify) == (False, True)
        assert first.event == second.event == kind
        assert first.id == second.id == original.id
        assert first.incident == original.incident
