"""Independent public incidents fired together: what the correlator groups that nothing ties.

The incidents of HolmesGPT's evaluation fixtures (``../shared/benchmarks/holmesgpt-incidents.json``,
read at run time, never copied) are separate failures of separate test clusters, written by nobody on
this team. Fired one after another a second apart, as if in one cluster at one moment, every pair the
correlator groups is a coincidence by construction: the figure is precision on alerts the correlator
was not written for. Some such pairs are what one real cluster would make one incident (three services
failing name resolution at once share a resolver), so each grouped pair is listed with the signals that
joined it, for a reader to judge.

The same incidents are then fired during each storm of bench/storms, spread over its span and in its
cluster, as unrelated alerts nobody here wrote: an incident holding both a storm's alerts and a public
one is a false link (``during_storms``).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

import schemas
from bench.storms._scenario import Storm
from services.analyst.eval._benchmarks import incident_message
from services.analyst.eval._paths import DEFAULT_BENCHMARKS_DIR, INCIDENTS_INPUT
from services.incidents import Correlator, IncidentSettings, OpenIndex
from services.incidents._simulate import Arrival, simulate


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
    messages = public_incidents(directory)
    if messages is None:
        return None
    correlator = Correlator(settings or IncidentSettings(incidents_enabled=True))
    index = OpenIndex()
    members: dict[str, list[str]] = defaultdict(list)
    joined: list[Joined] = []
    for n, message in enumerate(messages):
        # Each fires a second after the one before, as its own Alertmanager notification.
        at = message.alert.starts_at + timedelta(seconds=n)
        fired = _fired(message, at, "", "").message
        index, (assignment,) = correlator.assign(index, [fired], at + timedelta(seconds=1))
        name = fired.alert.labels.get("alertname", "?")
        if not assignment.opened:
            joined.append(Joined(name, members[assignment.incident_id][0], assignment.signals))
        members[assignment.incident_id].append(name)
    pairs = sum(len(list(itertools.combinations(names, 2))) for names in members.values())
    alone = sum(1 for names in members.values() if len(names) == 1)
    return Coincidences(len(messages), len(members), alone, pairs, joined)


def public_incidents(directory: Path = DEFAULT_BENCHMARKS_DIR) -> list[schemas.EnrichedAlert] | None:
    """The public incidents as the enricher would publish them; None when the input is absent."""
    path = directory / INCIDENTS_INPUT
    if not path.is_file():
        return None
    return [incident_message(case)[0] for case in json.loads(path.read_text(encoding="utf-8"))["cases"]]


@dataclass(frozen=True)
class Absorbed:
    """A storm's incident that took in public alerts: the storm, their names and the storm's."""

    storm: str
    public: list[str]
    members: list[str]


def during_storms(
    storms: list[Storm], settings: IncidentSettings, directory: Path = DEFAULT_BENCHMARKS_DIR
) -> list[Absorbed] | None:
    """Each storm replayed with the public incidents fired during it (spread over its span, in its
    cluster): the incidents holding both. None when the input is absent."""
    public = public_incidents(directory)
    if public is None:
        return None
    absorbed = []
    for storm in storms:
        arrivals = sorted(storm.arrivals, key=lambda arrival: arrival.at)
        start = arrivals[0].at
        span = max((arrivals[-1].at - start).total_seconds(), 60.0)
        cluster = next((c for a in arrivals if (c := a.message.alert.labels.get("cluster"))), "")
        extra = [
            _fired(message, start + timedelta(seconds=span * n / len(public)), cluster, f"public-{n}")
            for n, message in enumerate(public)
        ]
        run = simulate(sorted([*arrivals, *extra], key=lambda a: a.at), settings, storm.topology)
        names = {schemas.episode_key(a.message.alert): (a.truth, a.message.alert.labels.get("alertname", "?"))
                 for a in [*arrivals, *extra]}  # fmt: skip
        members: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for episode, incident in run.incident_of.items():
            members[incident].append(names[episode])
        for listed in members.values():
            theirs = sorted({name for truth, name in listed if truth.startswith("public-")})
            ours = sorted({name for truth, name in listed if not truth.startswith("public-")})
            if theirs and ours:
                absorbed.append(Absorbed(storm.path.stem, theirs, ours))
    return absorbed


def _fired(message: schemas.EnrichedAlert, at: datetime, cluster: str, truth: str) -> Arrival:
    labels = {**message.alert.labels, **({"cluster": cluster} if cluster else {})}
    alert = msgspec.structs.replace(message.alert, labels=labels, starts_at=at)
    fired = msgspec.structs.replace(
        message, alert=alert, id=schemas.alert_id(alert), received_at=at, enriched_at=at
    )
    return Arrival(at=at, message=fired, truth=truth)
