"""``python -m bench.ceiling``: the analyst with incidents on, minus everything it keeps for replicas
and restarts. It shows the most the pipeline passes with this correlator and runtime, on this machine.

Per batch it does what no design of issue #12 can leave out. It groups the firing alerts with the
real correlator, against each cluster's index held in memory and bounded as the store bounds it. It
sends every firing alert on with its incident, as the analyst does, and publishes each new incident's
``opened`` event to the incident stream once the grouping wait has passed, when the analyst would. It
keeps no membership, state, exemplar or review, so another replica or a restart cannot read anything
it did, and its events carry no analysis. ``python -m bench.pipeline`` runs it as
``BENCH_INCIDENTS=ceiling`` (docs/incidents-throughput.md, "The ceiling on this machine").

``CEILING_CORRELATION=false`` leaves out the correlation too: each alert is an incident of its own,
with no footprint and no matching, which is the cost of the events alone.

A measuring tool, never a service: a replica groups only the alerts it sees itself, a restart forgets
every incident, and events still waiting when it stops are never sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from loguru import logger

import schemas
from services.analyst import SPEC as ANALYST
from services.analyst import Analyst, AnalystMetrics, AnalystSettings, RulesAnalyst
from services.analyst._incidents import Incidents, shared_journal
from services.analyst._placement import Placed, member_of
from services.incidents import (
    Assignment,
    Correlator,
    IncidentSettings,
    IncidentStore,
    Joining,
    OpenIndex,
    event,
    incident_id,
    join,
    load_topology,
    shard_of,
)
from services.incidents._store import IndexEncoder
from services.runtime import Handler, Runtime, stage_main


class CeilingIncidents(Incidents):
    """``Incidents`` with the store's state left out: only the events are written."""

    def __init__(self, *args: Any, correlated: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.correlated = correlated
        self._announcing: set[asyncio.Task[None]] = set()  # events held for the grouping wait
        self._indexes: dict[str, OpenIndex] = {}
        self._encoders: dict[str, IndexEncoder] = {}
        self._refs: dict[str, schemas.IncidentRef | None] = {}

    def take(self, message: schemas.EnrichedAlert, analysis: schemas.Analysis | None = None) -> Placed:
        return Placed(ref=self._refs.pop(message.id, None))

    async def prepare(
        self, batch: list[schemas.EnrichedAlert], sequences: Mapping[str, int] | None = None
    ) -> None:
        """``sequences`` are not read: with no exemplar kept, nothing refers to the alerts' stream."""
        now = self.clock()
        by_shard: dict[str, list[schemas.EnrichedAlert]] = defaultdict(list)
        for message in batch:
            if message.alert.status == "firing" and message.replay is None:
                by_shard[shard_of(message.alert)].append(message)
        refs: dict[str, schemas.IncidentRef] = {}
        events = []
        for shard, messages in by_shard.items():
            by_episode = {schemas.episode_key(message.alert): message for message in messages}
            for assignment in self._assigned(shard, messages, now):
                episode = assignment.episode
                role, signals = assignment.role, list(assignment.signals)
                refs[episode] = schemas.IncidentRef(id=assignment.incident_id, role=role, signals=signals)
                if assignment.opened:
                    joining = Joining(episode, assignment.incident_id, role, assignment.signals)
                    state = join(None, member_of(by_episode[episode]), joining, now, shard=shard)
                    _, opened = event(state, "opened", now)
                    events.append((schemas.incident_subject(opened.event), schemas.encode(opened), opened.id))
        if events:
            task = asyncio.get_running_loop().create_task(self._announce(events))
            self._announcing.add(task)
            task.add_done_callback(self._announced)
        for message in batch:
            self._refs[message.id] = refs.get(schemas.episode_key(message.alert))

    async def _announce(self, events: list[tuple[str, bytes, str]]) -> None:
        """The events published once the incidents have gathered members, as the analyst's reviews are."""
        await asyncio.sleep(self.settings.incident_group_wait_seconds)
        await self.store.publish_all(events)

    def _announced(self, task: asyncio.Task[None]) -> None:
        self._announcing.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # Said, not swallowed: fewer events than incidents would make the figure wrong.
            logger.error("ceiling: incident events not published ({}: {})", type(exc).__name__, exc)

    async def sent(self) -> None:
        """Every event held so far published."""
        await asyncio.gather(*self._announcing)

    def _assigned(self, shard: str, messages: list[schemas.EnrichedAlert], now: datetime) -> list[Assignment]:
        if not self.correlated:
            episodes = (schemas.episode_key(message.alert) for message in messages)
            return [Assignment(e, incident_id(e), "root", (), True, False, False) for e in episodes]
        index, assignments = self.correlator.assign(self._indexes.get(shard, OpenIndex()), messages, now)
        self._indexes[shard] = self._encoders.setdefault(shard, IndexEncoder()).bounded(index)
        return assignments


async def build(settings: AnalystSettings, runtime: Runtime) -> Handler:
    grouping = IncidentSettings.of(settings)
    store = await IncidentStore.open(runtime.js, grouping.incident_bucket, settings)
    correlator = Correlator(grouping, load_topology(grouping.incident_topology_file))
    correlated = os.environ.get("CEILING_CORRELATION", "true").lower() != "false"
    journal = await shared_journal(settings, runtime)  # read by nothing: the ceiling keeps no state
    incidents = CeilingIncidents(journal, store, correlator, grouping, correlated=correlated)
    rules = RulesAnalyst.from_dir(settings.rules_dir)
    analyst = Analyst(rules, AnalystMetrics.of(runtime.registry), incidents=incidents)
    return Handler(analyst.handle, inline=True, prepare=incidents.prepare)


# The analyst's consumer and companions, so the bench waits on the same consumers as with the analyst.
SPEC = dataclasses.replace(ANALYST, build=build)

if __name__ == "__main__":
    stage_main(SPEC, AnalystSettings, "The analyst with incidents on and no state kept: a measuring tool.")
