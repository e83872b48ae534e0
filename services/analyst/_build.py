"""Wiring: settings and live connections in, the handler out."""

from __future__ import annotations

from loguru import logger

import schemas
from services import compiled
from services.analyst._cache import EpisodeCache
from services.analyst._handler import Analyst
from services.analyst._incidents import Incidents, shared_journal
from services.analyst._llm_setup import llm_for
from services.analyst._metrics import AnalystMetrics
from services.analyst._reviews import ALERTS_STAGE, REVIEWS
from services.analyst._root_analyses import shared_roots
from services.analyst._rules import RulesAnalyst
from services.analyst._settings import AnalystSettings
from services.incidents import Correlator, IncidentSettings, IncidentStore, load_topology
from services.runtime import Handler, Runtime, StageSpec


async def build(settings: AnalystSettings, runtime: Runtime) -> Handler:
    rules = RulesAnalyst.from_dir(settings.rules_dir)
    metrics = AnalystMetrics.of(runtime.registry)
    grouping = IncidentSettings.of(settings)
    if grouping.incidents_enabled:
        return await _grouping(settings, grouping, runtime, rules, metrics)
    llm = await llm_for(settings, runtime, rules, metrics)
    if llm is None:
        logger.info("no LLM_API_KEY: the rules analyst answers ({} rules)", len(rules.catalogue.rules))
    cache = None
    # The cache saves LLM calls; for the rules analyst a key-value round trip costs more than the rules.
    if settings.analysis_cache and llm is not None:
        cache = await EpisodeCache.open(
            runtime.js, settings.analysis_cache_bucket, settings.analysis_cache_ttl_hours, settings
        )
    analyst = Analyst(rules, metrics, llm=llm, cache=cache)
    # Rules alone wait on nothing: the runtime handles whole batches.
    return Handler(analyst.handle, inline=llm is None and cache is None)


async def _grouping(
    settings: AnalystSettings,
    grouping: IncidentSettings,
    runtime: Runtime,
    rules: RulesAnalyst,
    metrics: AnalystMetrics,
) -> Handler:
    """Incidents on: alerts are placed in incidents per batch and explained by rules one by one; the
    LLM explains each incident once (the ``incidents`` consumer), not each of its alerts."""
    store = await IncidentStore.open(runtime.js, grouping.incident_bucket, settings)
    journal = await shared_journal(settings, runtime)
    topology = load_topology(grouping.incident_topology_file)
    # The roots' own analyses are kept for their incidents' reviews (the same rules, not run twice).
    roots = shared_roots(runtime, rules)
    correlator = Correlator(grouping, topology)
    # With an LLM each incident's review is a message of its own (``review_messages``).
    together = not settings.llm_enabled
    incidents = Incidents(journal, store, correlator, grouping, roots=roots, reviews_together=together)
    analyst = Analyst(rules, metrics, incidents=incidents)
    logger.info(
        "incidents on: alerts grouped in {}, analysed per incident; correlation {}",
        grouping.incident_bucket,
        compiled.describe(),
    )
    # Sequenced: an incident refers to its exemplars by where the alerts' stream keeps them.
    return Handler(analyst.handle, inline=True, prepare=incidents.prepare_delivered, sequenced=True)


SPEC: StageSpec[schemas.EnrichedAlert, AnalystSettings] = StageSpec(
    name=ALERTS_STAGE,
    input_subject=schemas.ENRICHED,
    input_type=schemas.EnrichedAlert,
    output_subject=schemas.ANALYZED,
    build=build,
    companions=(REVIEWS,),
)
