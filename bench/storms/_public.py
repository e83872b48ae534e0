"""Independent public incidents fired together: what the correlator groups that nothing ties.

The incidents of HolmesGPT's evaluation fixtures (``../shared/benchmarks/holmesgpt-incidents.json``,
read at run time, never copied) are separate failures of separate test clusters, written by nobody on
this team. Fired one after another a second apart, as if in one cluster at one moment, every pair the
correlator groups is a coincidence by construction: the figure is precision on alerts the correlator
was not written for. Some such pairs are what one real cluster would make one incident (three services
failing name resolution at once share a resolver), so each grouped pair is listed with the signals that
joined it, for a reader to judge.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import schemas
from services.analyst.eval._benchmarks import incident_message
from services.analyst.eval._paths import DEFAULT_BENCHMARKS_DIR, INCIDENTS_INPUT
from services.incidents import Correlator, IncidentSettings, OpenIndex


@dataclass(frozen=True)
class Joined:
    """One alert that joined another's incident, and the signals that placed it."""

    alertname: str
    opener: str  # the alert name that opened the incident it joined
    signals: tuple[str, ...]


@dataclass(frozen=True)
class Coincidences:
    entries: int
    incidents: int
    alone: int  # entries that stayed an incident of their own
    pairs: int  # pairs of entries in one incident: each a coincidence
    joined: list[Joined]


def public_coincidences(
    directory: Path = DEFAULT_BENCHMARKS_DIR, settings: IncidentSettings | None = None
) -> Coincidences | None:
    """The public incidents through the correlator, a second apart; None when the input is absent."""
    path = directory / INCIDENTS_INPUT
    if not path.is_file():
        return None
    cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
    messages = [incident_message(case)[0] for case in cases]
    correlator = Correlator(settings or IncidentSettings(incidents_enabled=True))
    index = OpenIndex()
    members: dict[str, list[str]] = defaultdict(list)
    joined: list[Joined] = []
    for n, message in enumerate(messages):
        # Each fires a second after the one before, as its own Alertmanager notification.
        at = message.alert.starts_at + timedelta(seconds=n)
        alert = schemas.Alert(
            status="firing",
            labels=message.alert.labels,
            annotations=message.alert.annotations,
            starts_at=at,
            generator_url=message.alert.generator_url,
        )
        fired = schemas.EnrichedAlert(
            id=message.id,
            alert=alert,
            group=message.group,
            received_at=at,
            enriched_at=at,
            evidence=message.evidence,
        )
        index, (assignment,) = correlator.assign(index, [fired], at + timedelta(seconds=1))
        name = alert.labels.get("alertname", "?")
        if not assignment.opened:
            joined.append(Joined(name, members[assignment.incident_id][0], assignment.signals))
        members[assignment.incident_id].append(name)
    pairs = sum(len(list(itertools.combinations(names, 2))) for names in members.values())
    alone = sum(1 for names in members.values() if len(names) == 1)
    return Coincidences(len(messages), len(members), alone, pairs, joined)
