"""Memory and export against a real history (SQLite file): what people said comes back where it helps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

import schemas
from services.analyst.eval import DEFAULT_DIR, load_scenarios
from services.analyst.eval._scenarios import load_scenario
from services.cli._feedback import collect, feedback_export, write_export
from services.history import History, recall
from tests.support.history import incident_event, queries_asked

OOM = load_scenario(DEFAULT_DIR / "01-crashloop-oom-java.yaml").message
NOW = OOM.received_at


def episode(
    base: schemas.EnrichedAlert, days_ago: float, category: str, cause: str, **labels: str
) -> schemas.AnalyzedAlert:
    """Another firing of ``base``'s rule: its own start, labels changed as given, analysed."""
    starts = base.alert.starts_at - timedelta(days=days_ago)
    alert = msgspec.structs.replace(base.alert, starts_at=starts, labels={**base.alert.labels, **labels})
    message = msgspec.structs.replace(base, alert=alert, id=schemas.alert_id(alert), received_at=starts)
    analysis = schemas.Analysis(
        summary=f"{labels or 'same'}",
        root_cause=cause,
        category=category,  # type: ignore[arg-type]
        confidence=0.8,
        analyzer="rules",
        remediation=["raise the memory limit"],
    )
    return schemas.analyzed(message, analysis, starts)


def verdict(target: schemas.AnalyzedAlert, verdict: schemas.Verdict, **fields: object) -> schemas.Feedback:
    return schemas.Feedback(
        id=f"f-{target.id}",
        target="alert",
        target_id=target.id,
        verdict=verdict,
        category=target.analysis.category,
        author="ada",
        given_at=target.received_at + timedelta(hours=1),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[History]:
    history = await History.open(f"sqlite:///{tmp_path / 'history.db'}")
    yield history
    await history.close()


async def test_memory_recalls_the_same_family_first_and_confirmed_causes_above_the_analysts(
    history: History,
) -> None:
    recent = episode(OOM, 2, "memory_pressure", "heap exhausted", pod="checkout-api-7d9f8b6c4-abcde")
    reviewed = episode(
        OOM, 20, "crash_loop", "restarts", container="checkout-api", pod="checkout-api-5c8d7f9b6-zzzzz"
    )
    other_rule = load_scenario(
        DEFAULT_DIR / "03-latency-db-pool.yaml"
    ).message  # same namespace, another rule
    latency = episode(other_rule, 1, "dependency_failure", "pool exhausted")
    elsewhere = load_scenario(DEFAULT_DIR / "37-oom-after-release-leak.yaml").message
    # Three days before the alert (memory looks back from it; that scenario is dated months later).
    far = episode(
        elsewhere, (elsewhere.alert.starts_at - NOW).days + 3, "memory_pressure", "leak after release"
    )
    await history.write(alerts=[recent, reviewed, latency, far])
    cause, fix = "a memory leak in the PDF renderer", "rolled back to 2.3.1"
    await history.write(
        feedback=[
            verdict(
                reviewed,
                "corrected",
                corrected_category="memory_pressure",
                actual_cause=cause,
                actual_fix=fix,
            )
        ]
    )

    memory = await recall(history, OOM, now=NOW)

    ids = [r.past.id for r in memory.recalled]
    assert ids[:3] == [reviewed.id, recent.id, far.id]
    assert latency.id not in ids
    first = memory.recalled[0]
    assert (first.category, first.cause, first.fix, first.standing) == (
        "memory_pressure",
        cause,
        fix,
        "corrected by a person",
    )
    assert memory.recalled[1].cause == "heap exhausted"
    assert memory.last_reviewed is first
    # The same rule in the same place within a week: only the firing two days ago.
    assert memory.fired_this_week == 1


async def test_an_empty_history_remembers_nothing(history: History) -> None:
    memory = await recall(history, OOM, now=NOW)
    assert (memory.recalled, memory.fired_this_week) == ([], 0)


async def test_export_writes_the_verdicts_as_scenarios_that_eval_loads(
    history: History, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    confirmed = episode(OOM, 1, "memory_pressure", "heap exhausted")
    corrected = episode(OOM, 2, "crash_loop", "restarts", pod="checkout-api-7d9f8b6c4-bcdfg")
    unjudged = episode(OOM, 3, "memory_pressure", "heap exhausted", pod="checkout-api-7d9f8b6c4-hjklm")
    await history.write(alerts=[confirmed, corrected, unjudged])
    await history.write(
        feedback=[
            verdict(confirmed, "confirmed"),
            verdict(corrected, "corrected", corrected_category="memory_pressure"),
        ]
    )

    judged = await collect(history, since=None)
    assert sorted(f.target_id for f, _, _ in judged) == sorted([confirmed.id, corrected.id])
    out = tmp_path / "exported"
    assert write_export(judged, out) == 2
    scenarios = load_scenarios(out)
    assert {s.message.id: s.expected.category for s in scenarios} == {
        confirmed.id: "memory_pressure",
        corrected.id: "memory_pressure",
    }

    # The command: DATABASE_URL names the same file; the files are the same.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'history.db'}")
    assert await feedback_export(None, tmp_path / "by-command") == 0
    written = sorted(p.name for p in (tmp_path / "by-command").iterdir())
    assert written == sorted(p.name for p in out.iterdir())


async def test_export_reads_a_page_of_incidents_in_one_query(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The export wants the verdicts: the firing count the console corrects from the members is not
    # exported, and costs a page of open incidents two more queries.
    members = [episode(OOM, n, "memory_pressure", "heap exhausted", pod=f"p{n}") for n in range(1, 4)]
    event = incident_event("inc-1", 2, members=members)
    given = msgspec.structs.replace(
        verdict(members[0], "confirmed"), id="f-inc-1", target="incident", target_id="inc-1"
    )
    await history.write(alerts=members, incidents=[event], feedback=[given])
    asked = queries_asked(history, monkeypatch)
    judged = await collect(history, since=None)
    assert [f.target_id for f, _, _ in judged] == ["inc-1"]
    assert sum("FROM incidents i" in sql for sql in asked) == 1
    assert not any("FROM alerts a WHERE a." in sql for sql in asked)  # no member looked up or counted
