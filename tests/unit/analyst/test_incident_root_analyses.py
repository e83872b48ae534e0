"""An incident's review reuses its root's own rules answer, and only for the very message it was made for."""

from __future__ import annotations

import msgspec
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._root_analyses import RootAnalyses
from tests.unit.analyst.test_incident_prompt import storm

RULES = RulesAnalyst()


def _with_other_evidence(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    """The same alert (same id), enriched again with other evidence."""
    return msgspec.structs.replace(message, enriched_at=message.enriched_at.replace(microsecond=1))


def test_an_answer_is_found_for_the_bytes_its_message_was_kept_as_and_for_no_other() -> None:
    _, exemplars = storm(5)
    root = exemplars[0]
    roots = RootAnalyses()
    roots.expect("inc-1", root, schemas.encode(root))
    answer = RULES.analyze(root)
    roots.analysed(root, answer)

    assert roots.find(schemas.encode(root)) == answer
    assert roots.find(schemas.encode(_with_other_evidence(root))) is None
    # Its incident's review takes the root as this process placed it, without reading it back.
    assert roots.root("inc-1", schemas.episode_key(root.alert)) == (root, answer)
    assert roots.root("inc-2", schemas.episode_key(root.alert)) is None


def test_an_answer_for_another_copy_of_the_root_is_not_kept() -> None:
    _, exemplars = storm(5)
    root = exemplars[0]
    copy = _with_other_evidence(root)  # a re-send in the same batch, analysed on its own
    roots = RootAnalyses()
    roots.expect("inc-1", root, schemas.encode(root))
    roots.analysed(copy, RULES.analyze(copy))

    assert roots.find(schemas.encode(root)) is None
    assert roots.find(schemas.encode(copy)) is None
    assert roots.root("inc-1", schemas.episode_key(root.alert)) is None


def test_the_oldest_answers_are_forgotten_past_the_limit() -> None:
    _, exemplars = storm(5)
    roots = RootAnalyses(limit=2)
    for message in exemplars[:3]:
        roots.expect("inc-1", message, schemas.encode(message))
        roots.analysed(message, RULES.analyze(message))

    assert roots.find(schemas.encode(exemplars[0])) is None
    assert roots.find(schemas.encode(exemplars[2])) is not None


async def test_a_review_given_the_roots_answer_says_what_running_the_rules_says() -> None:
    incident, exemplars = storm(50)
    analyst = IncidentAnalyst(RULES, AnalystMetrics(CollectorRegistry()))
    fresh = await analyst.analyze(incident, exemplars, use_llm=False)
    known = [(exemplars[0], RULES.analyze(exemplars[0]))]

    assert await analyst.analyze(incident, exemplars, use_llm=False, known=known) == fresh
    # The answer given is the one used: the root's rules are not run again.
    marked = msgspec.structs.replace(known[0][1], summary="kept answer")
    reused = await analyst.analyze(incident, exemplars, use_llm=False, known=[(exemplars[0], marked)])
    assert reused.summary.startswith("kept answer; explains 49 other alerts")
