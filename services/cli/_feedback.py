"""``aiops feedback export``: people's verdicts from history, as scenarios ``just eval`` reads.

Each verdict that names the right category (a confirmed analysis, or a correction with
``corrected_category``) becomes one scenario file ``<dir>/<target>-<id>.yaml`` in the format of
tests/scenarios: the alert and the evidence as they were stored, ``expected.category`` the human
one. Every verdict, with or without a category, is also a line of ``<dir>/verdicts.jsonl``: what
the analyst said then (category, confidence, analyzer) and what the person said, which
``just eval --feedback`` turns into per-category precision and calibration.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import yaml

import schemas
from services.history import AlertQuery, History, IncidentQuery

DEFAULT_DIR = Path(".data") / "feedback"
DEFAULT_DATABASE_URL = "sqlite:///.data/history.db"
VERDICTS_FILE = "verdicts.jsonl"
_PAGE = 500


def right_category(feedback: schemas.Feedback, analysed: str) -> str:
    """The category the person says is right; "" when they only said the analysis was wrong."""
    if feedback.verdict == "confirmed":
        return analysed
    return str(feedback.corrected_category or "")


def scenario_of(
    message: schemas.EnrichedAlert, feedback: schemas.Feedback, analysed: str
) -> dict[str, Any] | None:
    """The scenario file's content, or None when the verdict names no category."""
    category = right_category(feedback, analysed)
    if not category:
        return None
    evidence = msgspec.to_builtins(message.evidence)
    for metric in evidence.get("metrics", []):
        # The scenario format reads every number of a series as a float: absent ones are left out.
        metric["series"] = [{k: v for k, v in s.items() if v is not None} for s in metric.get("series", [])]
    logs = evidence.get("logs") or {}
    name = message.alert.labels.get("alertname", message.id)
    scenario: dict[str, Any] = {
        "name": f"{name}: {feedback.verdict} by {feedback.author or 'a person'} ({feedback.channel})",
        "description": feedback.actual_cause or f"the analysis ({analysed}) was confirmed",
        "expected": {"category": category},
        "alert": msgspec.to_builtins(message.alert),
        "metrics": evidence.get("metrics", []),
        "logs": logs.get("templates", []),
        "errors": evidence.get("errors", []),
    }
    if not scenario["logs"]:
        del scenario["logs"]  # the scenario format reads "no logs" as absent, not as an empty list
    return scenario


def verdict_line(feedback: schemas.Feedback, analysis: schemas.Analysis | None) -> dict[str, Any]:
    analysed = str(analysis.category) if analysis else feedback.category
    return {
        "id": feedback.id,
        "target": feedback.target,
        "target_id": feedback.target_id,
        "verdict": feedback.verdict,
        "category": analysed,
        "confidence": analysis.confidence if analysis else None,
        "analyzer": analysis.analyzer if analysis else "",
        "corrected_category": feedback.corrected_category,
        "given_at": feedback.given_at.isoformat(),
    }


async def _alert_verdicts(history: History, since: datetime | None) -> AsyncIterator[schemas.Feedback]:
    cursor: str | None = None
    while True:
        page = await history.alerts(AlertQuery(since=since, limit=_PAGE, before=cursor))
        for row in page.items:
            if row.feedback and (feedback := await history.feedback_for(row.id)) is not None:
                yield feedback
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _incident_verdicts(history: History, since: datetime | None) -> AsyncIterator[schemas.Feedback]:
    cursor: str | None = None
    while True:
        # The verdicts only: what still fires is not exported, and would cost two queries a page.
        query = IncidentQuery(since=since, limit=_PAGE, before=cursor)
        page = await history.incidents(query, firing_as_known=False)
        for row in page.items:
            if row.feedback and (feedback := await history.feedback_for(row.id)) is not None:
                yield feedback
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def _subject(
    history: History, feedback: schemas.Feedback
) -> tuple[schemas.EnrichedAlert | None, schemas.Analysis | None]:
    """The message a scenario replays and the analysis the verdict judged."""
    if feedback.target == "alert":
        alert = await history.alert(feedback.target_id)
        return alert, alert.analysis if alert else None
    event = await history.incident(feedback.target_id)
    if event is None:
        return None, None
    incident = event.incident
    root = await history.alert(incident.root.alert_id) if incident.root else None
    return root, incident.analysis


Judged = tuple[schemas.Feedback, schemas.EnrichedAlert | None, schemas.Analysis | None]


async def collect(history: History, since: datetime | None) -> list[Judged]:
    """Every verdict on alerts and incidents received since ``since``, with what it judged."""
    judged: list[Judged] = []
    for source in (_alert_verdicts(history, since), _incident_verdicts(history, since)):
        async for feedback in source:
            judged.append((feedback, *await _subject(history, feedback)))
    return judged


def write_export(judged: Sequence[Judged], directory: Path) -> int:
    """verdicts.jsonl and one scenario file per verdict naming a category; the scenarios written."""
    directory.mkdir(parents=True, exist_ok=True)
    scenarios = 0
    with (directory / VERDICTS_FILE).open("wb") as lines:
        for feedback, message, analysis in judged:
            lines.write(orjson.dumps(verdict_line(feedback, analysis)) + b"\n")
            analysed = str(analysis.category) if analysis else feedback.category
            scenario = scenario_of(message, feedback, analysed) if message else None
            if scenario is None:
                continue
            path = directory / f"{feedback.target}-{feedback.target_id[:40].replace('/', '_')}.yaml"
            path.write_text(yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True), encoding="utf-8")
            scenarios += 1
    return scenarios


async def feedback_export(since: datetime | None, directory: Path) -> int:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        history = await History.open(url, migrate=False)
        try:
            judged = await collect(history, since)
        finally:
            await history.close()
    # The URL may hold a password: the error says what failed, never where.
    except Exception as exc:
        print(f"aiops feedback export: history (DATABASE_URL) not readable: {exc}", file=sys.stderr)
        return 1
    scenarios, verdicts = write_export(judged, directory), len(judged)
    print(f"{verdicts} verdict(s) in {directory / VERDICTS_FILE}; {scenarios} scenario(s) in {directory}/")
    print(f"score them: just eval --feedback {directory}")
    return 0
